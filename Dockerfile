# qa-engine: the engine with its rule packs and lexicons. Build from the repository root:
#   docker build -t qa-engine . && docker run --rm -i qa-engine score - < interactions.jsonl
# The API (migrate the database in /data once, then serve with TCP_NODELAY, see api/server.py):
#   docker run --rm -v qa:/data qa-engine db upgrade
#   docker run -d -v qa:/data -p 8000:8000 --entrypoint python qa-engine -m api.server --host 0.0.0.0 --workers 2
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY qa_engine ./qa_engine
COPY datasets ./datasets
COPY lexicons ./lexicons
COPY models ./models
COPY api ./api
COPY alembic.ini ./
COPY migrations ./migrations
RUN pip install --no-cache-dir .
ENV QA_LEXICONS_DIR=/app/lexicons QA_MODELS_DIR=/app/models QA_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["qa-engine"]
CMD ["demo"]

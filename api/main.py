"""The FastAPI application. `create_app()` builds it; nothing is created at import time.

Run: `uvicorn --factory api.main:create_app` (apply migrations first: `alembic upgrade head`).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from api.config import ApiConfig
from api.jobs import AudioJobs, GroupAcceptor, InteractionQueue
from api.metrics import Metrics
from api.methods import install as install_allow_header
from api.openapi import install as install_openapi
from api.routes import audio, auth, dashboards, health, interactions, reviews, rules, summaries, users, web
from api.scoring import AudioNotAllowed, Scorer
from qa_engine.config import Settings, get_settings
from qa_engine.store.db import Database
from qa_engine.store.reviews import ConflictError, ReviewError

DESCRIPTION = """
Quality inspection (智能质检) of customer-service calls and chats: send an interaction, get every
finding with its evidence, dimension scores, a 0–100 score and a red / yellow / green flag; review,
appeal and report on them.

Authentication: people log in at `POST /v1/auth/token` (OAuth2 password flow, bearer JWT);
machines send `X-API-Key`. Roles: admin, supervisor (their teams), qa_specialist, agent (their own
interactions; may appeal), ingest (write only).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    config = ApiConfig.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.jobs.resume()
        if config.queue_scorer:
            app.state.queue.resume()
        yield
        app.state.queue.shutdown()
        app.state.jobs.shutdown()
        app.state.db.dispose()

    app = FastAPI(title="qa-engine", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.config = config
    app.state.db = Database(config.database_url)
    app.state.scorer = Scorer(settings, audio_dir=config.audio_dir)
    app.state.metrics = Metrics()
    app.state.jobs = AudioJobs(app.state.db, app.state.scorer, app.state.metrics, config.report_timezone)
    app.state.acceptor = GroupAcceptor(app.state.db)
    app.state.queue = InteractionQueue(
        app.state.db, app.state.scorer, app.state.metrics, config.report_timezone, batch_size=config.queue_batch
    )
    app.middleware("http")(app.state.metrics.middleware)
    install_openapi(app)
    install_allow_header(app)

    for module in (auth, interactions, audio, reviews, summaries, dashboards, rules, users, health):
        app.include_router(module.router)  # /v1 prefixes are on the routers (metrics see full paths)
    web.mount_ui(app)  # the review UI at /ui and call audio for its player

    @app.exception_handler(ReviewError)
    @app.exception_handler(AudioNotAllowed)
    async def _unprocessable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold (out of range, NUL in text): the request's fault, not a 500.
        return JSONResponse({"detail": f"a value cannot be stored: {exc.orig}"}, status_code=422)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    return app

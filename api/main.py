"""The FastAPI application. `create_app()` builds it; nothing is created at import time.

Run: `uvicorn --factory api.main:create_app` (apply migrations first: `alembic upgrade head`).
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from limits.errors import StorageError
from sqlalchemy.exc import DataError

from api.config import ApiConfig
from api.jobs import AudioJobs, GroupAcceptor, InteractionQueue
from api.methods import install as install_allow_header
from api.metrics import Metrics
from api.openapi import install as install_openapi
from api.openapi import operation_id
from api.ratelimit import FailureLimiter
from api.routes import (
    alerts,
    assignments,
    audio,
    auth,
    dashboards,
    health,
    interactions,
    reviews,
    rules,
    summaries,
    users,
    web,
)
from api.scoring import AudioNotAllowed, Scorer
from api.server import install_access_log_filter
from qa_engine.config import Settings, get_settings
from qa_engine.logs import configure_logging
from qa_engine.store.accounts import stored_secret
from qa_engine.store.alerts import AlertSender, SendPolicy
from qa_engine.store.db import Database
from qa_engine.store.repository import OwnerConflict
from qa_engine.store.reviews import ConflictError, ReviewError

DESCRIPTION = """
Quality inspection (智能质检) of customer-service calls and chats: send an interaction, get every
finding with its evidence, dimension scores, a 0–100 score and a red / yellow / green flag; review,
appeal and report on them.

Authentication: people log in at `POST /v1/auth/token` (OAuth2 password flow, bearer JWT);
machines send `X-API-Key`. Roles: admin, supervisor (their teams), qa_specialist, agent (their own
interactions; may appeal), ingest (write only). Failed logins and API keys are throttled (429 with
`Retry-After`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    config = ApiConfig.from_settings(settings)
    db = Database(config.database_url)
    if config.jwt_secret is None:  # every worker and host on this database signs with the same one
        config = replace(config, jwt_secret=stored_secret(db))
    install_access_log_filter()
    configure_logging(settings)  # each uvicorn worker process builds its app here

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.jobs.resume()
        if config.queue_scorer:
            app.state.queue.resume()
        if app.state.alerts is not None:
            app.state.alerts.start()
        yield
        if app.state.alerts is not None:
            app.state.alerts.stop()
        app.state.queue.shutdown()
        app.state.jobs.shutdown()
        app.state.db.dispose()

    # Bodies over QA_MAX_BODY_MB are refused (413 "Content Too Large") as soon as that is known:
    # from Content-Length before anything is read, else once the bytes received pass it.
    app = FastAPI(
        title="qa-engine", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
        max_body_size=config.max_body_bytes, generate_unique_id_function=operation_id,
    )  # fmt: skip
    app.state.settings = settings
    app.state.config = config
    app.state.db = db
    app.state.limiter = FailureLimiter(config)
    app.state.scorer = Scorer(settings, audio_dir=config.audio_dir)
    app.state.metrics = Metrics()
    app.state.jobs = AudioJobs(app.state.db, app.state.scorer, app.state.metrics, config.report_timezone)
    app.state.acceptor = GroupAcceptor(app.state.db, redact=config.redact_pii)
    app.state.queue = InteractionQueue(
        app.state.db, app.state.scorer, app.state.metrics, config.report_timezone, batch_size=config.queue_batch
    )
    app.state.alerts = (
        AlertSender(db, SendPolicy.from_settings(settings), settings.alert_poll_seconds) if settings.alert_poll_seconds else None
    )
    app.middleware("http")(app.state.metrics.middleware)
    install_openapi(app)
    install_allow_header(app)

    # Routes match in the order included: those with a suffix after an interaction id (reviews,
    # appeals, web's audio and audio-link) before `GET /v1/interactions/{interaction_id:path}`.
    web.mount_ui(app)  # the review UI at /ui and call audio for its player
    for module in (auth, reviews, interactions, summaries, dashboards, rules, users, alerts, assignments, health):
        app.include_router(module.router)  # /v1 prefixes are on the routers (metrics see full paths)
    # An upload is its recording (QA_MAX_UPLOAD_MB, counted as it is saved) and its form fields.
    app.include_router(audio.router, max_body_size=config.max_upload_bytes + config.max_body_bytes)

    @app.exception_handler(ReviewError)
    @app.exception_handler(AudioNotAllowed)
    async def _unprocessable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold (out of range, NUL in text): the request's fault, not a 500.
        return JSONResponse({"detail": f"a value cannot be stored: {exc.orig}"}, status_code=422)

    @app.exception_handler(StorageError)
    async def _no_rate_limit_storage(_: Request, exc: StorageError) -> JSONResponse:
        # Failures cannot be counted, so credentials are not checked (fail closed); not the caller's fault.
        return JSONResponse({"detail": f"rate limit storage unavailable: {exc}"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own answer, in ASCII JSON: an error echoes its input, which may hold a lone
        # surrogate (the contract refuses them) that cannot be written as UTF-8.
        content = json.dumps({"detail": jsonable_encoder(exc.errors())}, separators=(",", ":"))
        return Response(content, status_code=422, media_type="application/json")

    @app.exception_handler(ConflictError)
    @app.exception_handler(OwnerConflict)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    return app

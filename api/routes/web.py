"""The review UI (static files under api/web, served at /ui) and call audio for its player.

An <audio> element cannot send a bearer header, so the page asks for a short-lived link that names
one interaction; the link plays (with HTTP range requests, for seeking) without other credentials.
Its token is an audio token (purpose "audio", this interaction): it is no login anywhere else, and
the access log is written without query strings (api.server.AccessLogWithoutQuery).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Query, status
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.deps import ConfigDep, Reader, SessionDep, visible_interaction
from api.openapi import errors
from api.schemas import AudioLink
from api.security import AUDIO, Principal, create_token, token_claims
from qa_engine.store.accounts import get_user

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
AUDIO_LINK_MINUTES = 30
NO_AUDIO = {404: "no interaction with this id that the caller may see, or it has no audio on this server"}

router = APIRouter(tags=["web"])


def mount_ui(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/")


def audio_file(audio_path: str | None, audio_dir: Path | None, upload_dir: Path | None = None) -> Path | None:
    """The stored call's audio file if it lies under the server's audio directory (a relative path
    is relative to it) or is an upload kept in the upload directory."""
    if not audio_path:
        return None
    path = Path(audio_path)
    for base in (audio_dir, upload_dir if path.is_absolute() else None):  # uploads are stored by full path
        if base is None:
            continue
        base = Path(base).resolve()
        found = (path if path.is_absolute() else base / path).resolve()
        if found.is_relative_to(base) and found.is_file():
            return found
    return None


@router.get(
    "/v1/interactions/{interaction_id:path}/audio-link",
    response_model=AudioLink,
    responses=errors(NO_AUDIO),
    summary="A link to play a call",
)
def get_audio_link(interaction_id: str, session: SessionDep, principal: Reader, config: ConfigDep) -> AudioLink:
    row = visible_interaction(session, principal, interaction_id)
    if audio_file(row.audio_path, config.audio_dir, config.upload_dir) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{interaction_id!r} has no audio on this server")
    token = create_token(
        principal.username,
        AUDIO,
        secret=config.signing_secret,
        algorithm=config.jwt_algorithm,
        minutes=AUDIO_LINK_MINUTES,
        iid=interaction_id,
    )
    path = quote(interaction_id, safe="")  # an id may hold `/`, `?`, `#`, `%`
    return AudioLink(url=f"/v1/interactions/{path}/audio?token={token}", expires_in=AUDIO_LINK_MINUTES * 60)


@router.get(
    "/v1/interactions/{interaction_id:path}/audio",
    response_class=FileResponse,
    responses={
        200: {"description": "the recording", "content": {"audio/*": {}, "application/octet-stream": {}}},
        **errors({401: "the link is invalid, expired or for another interaction", **NO_AUDIO}),
    },
    summary="Play a call (link from audio-link)",
)
def play_audio(
    interaction_id: str,
    session: SessionDep,
    config: ConfigDep,
    token: str = Query(description="from GET /v1/interactions/{id}/audio-link"),
) -> FileResponse:
    claims = token_claims(token, AUDIO, secret=config.signing_secret, algorithm=config.jwt_algorithm)
    if claims is None:  # a login token is no audio link either
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired audio link")
    if claims.get("iid") != interaction_id:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this link is for another interaction")
    user = get_user(session, claims["sub"])
    if user is None or not user.is_active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired audio link")
    row = visible_interaction(session, Principal.of(user, "token"), interaction_id)  # access may have changed
    path = audio_file(row.audio_path, config.audio_dir, config.upload_dir)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{interaction_id!r} has no audio on this server")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)

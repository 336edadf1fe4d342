"""User and API key administration (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from sqlalchemy.orm import Session

from api import views
from api.deps import Admin, SessionDep
from api.openapi import errors
from api.schemas import MAX_ID, ApiKeyIn, ApiKeyOut, UserIn, UserOut
from qa_engine.store import accounts

router = APIRouter(prefix="/v1", tags=["users"])


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=errors({409: "a user with this username exists"}),
    summary="Create a user",
)
def create_user(body: UserIn, session: SessionDep, principal: Admin) -> UserOut:
    try:
        user = accounts.create_user(
            session,
            body.username,
            body.role,
            password=body.password,
            agent_id=body.agent_id,
            team_ids=body.team_ids,
            actor=principal.username,
        )
    except accounts.AccountError as exc:
        code = status.HTTP_409_CONFLICT if "exists" in str(exc) else 422
        raise HTTPException(code, str(exc)) from exc
    session.commit()
    return views.user_out(user)


def _set_active(session: Session, username: str, active: bool, actor: str) -> UserOut:
    try:
        user = accounts.set_active(session, username, active, actor=actor)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    session.commit()
    return views.user_out(user)


@router.post(
    "/users/{username}/deactivate",
    response_model=UserOut,
    summary="Deactivate a user (their tokens and API keys stop working at once)",
    responses=errors({404: "no such user", 409: "an admin's own account"}),
)
def deactivate_user(username: str, session: SessionDep, principal: Admin) -> UserOut:
    if username == principal.username:  # so that the last admin cannot lock everyone out
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot deactivate your own account")
    return _set_active(session, username, False, principal.username)


@router.post(
    "/users/{username}/activate",
    response_model=UserOut,
    summary="Activate a user again",
    responses=errors({404: "no such user"}),
)
def activate_user(username: str, session: SessionDep, principal: Admin) -> UserOut:
    return _set_active(session, username, True, principal.username)


@router.post(
    "/users/{username}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyOut,
    responses=errors({404: "no such user"}),
    summary="Create an API key (shown once)",
)
def create_api_key(username: str, body: ApiKeyIn, session: SessionDep, principal: Admin) -> ApiKeyOut:
    user = accounts.get_user(session, username)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
    row, key = accounts.create_api_key(session, user, body.name, actor=principal.username)
    session.commit()
    return ApiKeyOut(id=row.id, name=row.name, prefix=row.prefix, key=key)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors({404: "no such API key"}),
    summary="Revoke an API key",
)
def revoke_api_key(key_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, principal: Admin) -> Response:
    try:
        accounts.revoke_api_key(session, key_id, actor=principal.username)
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""OAuth2 password flow for people: username and password in, a JWT bearer token out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ConfigDep, CurrentPrincipal, SessionDep
from api.openapi import errors
from api.schemas import TokenOut, UserOut
from api.security import create_access_token
from qa_engine.store.accounts import authenticate, get_user

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses=errors({401: "wrong username or password", 429: "too many failed logins: try again later"}),
    summary="Log in (OAuth2 password flow)",
)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, config: ConfigDep) -> TokenOut:
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    token = create_access_token(
        user.username,
        user.role,
        secret=config.jwt_secret,
        algorithm=config.jwt_algorithm,
        minutes=config.access_token_minutes,
    )
    return TokenOut(access_token=token, expires_in=config.access_token_minutes * 60)


@router.get("/auth/me", response_model=UserOut, summary="Who am I")
def me(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    user = get_user(session, principal.username)
    return UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        agent_id=user.agent_id,
        team_ids=sorted(principal.team_ids),
        is_active=user.is_active,
    )

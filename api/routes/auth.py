"""OAuth2 password flow for people: username and password in, a JWT bearer token (a login token) out.
Failed logins are throttled per username and per client address (api/ratelimit.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from api import views
from api.deps import ConfigDep, CurrentPrincipal, LimiterDep, SessionDep, client_address
from api.openapi import RATE_LIMIT_STORE_DOWN, errors
from api.ratelimit import LOGIN_ADDRESS, LOGIN_USER
from api.schemas import TokenOut, UserOut
from api.security import create_access_token
from qa_engine.store.accounts import authenticate, get_user

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenOut,
    summary="Log in (OAuth2 password flow)",
    responses=errors(
        {
            401: "wrong username or password",
            429: "too many failed logins for this username or from this address (see Retry-After)",
            503: RATE_LIMIT_STORE_DOWN,
        }
    ),
)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    config: ConfigDep,
    limiter: LimiterDep,
) -> TokenOut:
    counters = ((LOGIN_USER, form.username), (LOGIN_ADDRESS, client_address(request)))
    limiter.check(*counters)
    user = authenticate(session, form.username, form.password)
    if user is None:
        limiter.failed(*counters)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    token = create_access_token(
        user.username,
        user.role,
        secret=config.signing_secret,
        algorithm=config.jwt_algorithm,
        minutes=config.access_token_minutes,
    )
    return TokenOut(access_token=token, expires_in=config.access_token_minutes * 60)


@router.get("/auth/me", response_model=UserOut, summary="Who am I")
def who_am_i(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    user = get_user(session, principal.username)
    assert user is not None  # the principal was found by this name
    return views.user_out(user)

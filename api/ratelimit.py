"""Throttling of guessing: failed logins per username and per client address, failed API-key lookups
per client address (the `limits` library, moving windows).

Only failures count, so people and machines that know their credentials never wait; once a counter
has used its allowance, every attempt it covers is answered 429 with `Retry-After` until the window
has moved on, the right password included (checked before the password, so a locked-out guess costs
no argon2 work either). The counts live in `QA_RATE_LIMIT_STORAGE`: memory:// in each process, or a
Redis URL that every worker and host shares. The client address is the connection's peer (behind a
reverse proxy, run uvicorn with --proxy-headers and --forwarded-allow-ips so that it is the client's).
"""

from __future__ import annotations

import hashlib
import math
import time

from fastapi import HTTPException, status
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.config import ApiConfig

LOGIN_USER = "login-user"
LOGIN_ADDRESS = "login-address"
API_KEY_ADDRESS = "api-key-address"
WHAT = {LOGIN_USER: "failed logins", LOGIN_ADDRESS: "failed logins", API_KEY_ADDRESS: "failed API keys"}


class FailureLimiter:
    def __init__(self, config: ApiConfig) -> None:
        # wrap_exceptions: a storage outage raises limits.errors.StorageError (answered 503 by the app)
        self.storage = storage_from_string(config.rate_limit_storage, key_prefix=config.rate_limit_prefix, wrap_exceptions=True)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.limits = {
            LOGIN_USER: parse(config.login_failures_per_user),
            LOGIN_ADDRESS: parse(config.login_failures_per_address),
            API_KEY_ADDRESS: parse(config.api_key_failures_per_address),
        }

    def check(self, *counters: tuple[str, str]) -> None:
        """Raise 429 if any (kind, key) counter has used its allowance of failures."""
        for kind, key in counters:
            limit, ident = self.limits[kind], _ident(key)
            if not self.limiter.test(limit, kind, ident):
                reset = self.limiter.get_window_stats(limit, kind, ident).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    f"too many {WHAT[kind]}; try again in {wait} s",
                    headers={"Retry-After": str(wait)},
                )

    def failed(self, *counters: tuple[str, str]) -> None:
        """Count one failure on each (kind, key) counter."""
        for kind, key in counters:
            self.limiter.hit(self.limits[kind], kind, _ident(key))


def _ident(key: str) -> str:
    """A fixed-size key part whatever was sent (usernames are free text of any length)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]

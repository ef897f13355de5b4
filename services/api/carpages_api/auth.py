"""Who is asking: an optional buyer id from `Authorization: Bearer <JWT>` (HS256, `sub`, `exp`).

No token means an anonymous caller; a token that is malformed, expired, wrongly signed or lacks
`exp`/`sub` is a 401 rather than a silent downgrade, so clients notice a broken session. The token
proves identity only: paid status is read from the data on every request, so a lapsed
subscription stops unlocking paid fields at once, whatever the token says.

A verified token is remembered (bounded) with its `exp`: a signature that verified once verifies
forever under the same secret, and `nbf`/`iat` can only become more valid, so only the expiry
must be checked again, and it is, on every request.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.warnings import InsecureKeyLengthWarning

from carpages_api.errors import ApiError
from carpages_api.state import AppState

MAX_BUYER_ID = 4_294_967_295
"""buyer.id is INT UNSIGNED."""
REMEMBERED_TOKENS = 4096
"""Verified tokens kept per process (oldest forgotten first)."""

# Declares the scheme in OpenAPI (the "Authorize" button in /docs); parsing is done below so
# that a non-Bearer Authorization header is rejected instead of being treated as anonymous.
bearer_scheme = HTTPBearer(auto_error=False, description="buyer JWT (HS256; `sub` = buyer id)")


@dataclass(frozen=True)
class Identity:
    """The caller: a verified buyer id, or None for an anonymous visitor."""

    buyer_id: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.buyer_id is None


ANONYMOUS = Identity()


def unauthorized(detail: str) -> ApiError:
    """A 401 JSON error with the Bearer challenge."""
    return ApiError(401, "invalid token", detail,
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def verify(token: str, secret: str, algorithm: str) -> tuple[int, int]:
    """Verify a token and return (buyer id, exp); raise a 401 ApiError otherwise."""
    try:
        # PyJWT warns on every decode with a secret under 32 bytes; that is a deployment
        # setting to fix once, not a per-request event (and warnings are errors under test).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(token, secret, algorithms=[algorithm],
                                options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise unauthorized("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise unauthorized(type(exc).__name__) from None
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or len(sub) > 10:
        raise unauthorized("sub is not a buyer id")
    buyer_id = int(sub)
    if not 1 <= buyer_id <= MAX_BUYER_ID:
        raise unauthorized("sub is not a buyer id")
    return buyer_id, int(claims["exp"])  # PyJWT too compares int(exp) with now


def buyer_from_token(token: str, secret: str, algorithm: str) -> int:
    """Verify a token and return its buyer id; raise a 401 ApiError otherwise."""
    return verify(token, secret, algorithm)[0]


class TokenVerifier:
    """Verifies bearer tokens for one secret, remembering the ones that verified."""

    def __init__(self, secret: str, algorithm: str, capacity: int = REMEMBERED_TOKENS,
                 clock: Callable[[], float] = time.time) -> None:
        self.secret, self.algorithm, self.capacity = secret, algorithm, capacity
        self.clock = clock
        self._verified: dict[str, tuple[Identity, int]] = {}

    def identity(self, header: str | None) -> Identity:
        """The Identity for a raw Authorization header value (None = anonymous)."""
        if header is None:
            return ANONYMOUS
        known = self._verified.get(header)
        if known is not None:
            if known[1] > self.clock():  # PyJWT's rule: expired once exp <= now
                return known[0]
            del self._verified[header]
            raise unauthorized("token expired")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("expected `Authorization: Bearer <token>`")
        buyer_id, exp = verify(token.strip(), self.secret, self.algorithm)
        if len(self._verified) >= self.capacity:
            del self._verified[next(iter(self._verified))]
        identity = Identity(buyer_id)
        self._verified[header] = (identity, exp)
        return identity


def identity_from_header(header: str | None, secret: str, algorithm: str) -> Identity:
    """The Identity for a raw Authorization header value (None = anonymous)."""
    return TokenVerifier(secret, algorithm, capacity=1).identity(header)


def verifier_for(state: AppState) -> TokenVerifier:
    """The app's TokenVerifier, made on first use from its settings."""
    found = state.extras.get("token_verifier")
    if found is None:
        found = state.extras["token_verifier"] = TokenVerifier(state.settings.jwt_secret,
                                                               state.settings.jwt_algorithm)
    assert isinstance(found, TokenVerifier)
    return found


async def get_identity(
    request: Request,
    _doc: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Identity:
    """Dependency: the caller's Identity (401 on a bad token, anonymous without one)."""
    return verifier_for(request.app.state.carpages).identity(
        request.headers.get("authorization"))


Caller = Annotated[Identity, Depends(get_identity)]

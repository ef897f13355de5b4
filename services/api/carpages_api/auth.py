"""Who is asking: an optional buyer id from `Authorization: Bearer <JWT>` (HS256, `sub`, `exp`).

No token means an anonymous caller; a token that is malformed, expired, wrongly signed or lacks
`exp`/`sub` is a 401 rather than a silent downgrade, so clients notice a broken session. The token
proves identity only: paid status is read from the data on every request, so a lapsed
subscription stops unlocking paid fields at once, whatever the token says.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.warnings import InsecureKeyLengthWarning

from carpages_api.deps import State
from carpages_api.errors import ApiError

MAX_BUYER_ID = 4_294_967_295
"""buyer.id is INT UNSIGNED."""

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


def unauthorized(detail: str) -> ApiError:
    """A 401 JSON error with the Bearer challenge."""
    return ApiError(401, "invalid token", detail,
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def buyer_from_token(token: str, secret: str, algorithm: str) -> int:
    """Verify a token and return its buyer id; raise a 401 ApiError otherwise."""
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
    return buyer_id


def identity_from_header(header: str | None, secret: str, algorithm: str) -> Identity:
    """The Identity for a raw Authorization header value (None = anonymous)."""
    if header is None:
        return Identity()
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected `Authorization: Bearer <token>`")
    return Identity(buyer_from_token(token.strip(), secret, algorithm))


async def get_identity(
    request: Request, state: State,
    _doc: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Identity:
    """Dependency: the caller's Identity (401 on a bad token, anonymous without one)."""
    settings = state.settings
    return identity_from_header(request.headers.get("authorization"), settings.jwt_secret,
                                settings.jwt_algorithm)


Caller = Annotated[Identity, Depends(get_identity)]

"""Who is asking: an optional buyer id from `Authorization: Bearer <JWT>` (HS256, `sub`, `exp`).

No token means an anonymous caller; a token that is malformed, expired, wrongly signed, lacks
`exp`/`sub`, carries a non-numeric `exp`/`nbf`/`iat` or is not yet valid is a 401 rather than a
silent downgrade, so clients notice a broken session. The token proves identity only: paid status
is read from the data on every request, so a lapsed subscription stops unlocking paid fields at
once, whatever the token says.

A verified token is remembered (bounded) with its `exp`: a signature that verified once verifies
forever under the same secret, and `nbf`/`iat` can only become more valid, so only the expiry
must be checked again, and it is, on every request. Every time check allows the configured
clock skew (`API_JWT_LEEWAY_S`, 30 s by default).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from carpages_api.errors import ApiError

MAX_BUYER_ID = 4_294_967_295
"""buyer.id is INT UNSIGNED."""
REMEMBERED_TOKENS = 4096
"""Verified tokens kept per process (oldest forgotten first)."""

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


def _time_claim(claims: dict[str, Any], name: str) -> float | None:
    """A numeric `exp`/`nbf`/`iat` (RFC 7519 NumericDate); 401 for any other type."""
    value = claims.get(name)
    if value is None and name != "exp":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise unauthorized(f"{name} is not a number")
    return float(value)


def verify(token: str, secret: str, algorithm: str, now: float,
           leeway_s: float = 0.0) -> tuple[int, float]:
    """Verify a token at `now` (allowing `leeway_s` of clock skew) and return (buyer id, exp);
    raise a 401 ApiError otherwise."""
    try:
        # PyJWT warns on every decode with a secret under 32 bytes; that is a deployment
        # setting to fix once, not a per-request event (and warnings are errors under test).
        # The time claims are checked below: PyJWT takes `"exp": "123"` for a number and fails
        # with a TypeError (a 500) on a list.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(token, secret, algorithms=[algorithm],
                                options={"require": ["exp", "sub"], "verify_exp": False,
                                         "verify_nbf": False, "verify_iat": False})
    except jwt.InvalidTokenError as exc:
        raise unauthorized(type(exc).__name__) from None
    exp = _time_claim(claims, "exp")
    assert exp is not None
    if exp <= now - leeway_s:  # PyJWT's rule
        raise unauthorized("token expired")
    for name in ("nbf", "iat"):
        at = _time_claim(claims, name)
        if at is not None and at > now + leeway_s:
            raise unauthorized(f"token not yet valid ({name})")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or len(sub) > 10:
        raise unauthorized("sub is not a buyer id")
    buyer_id = int(sub)
    if not 1 <= buyer_id <= MAX_BUYER_ID:
        raise unauthorized("sub is not a buyer id")
    return buyer_id, exp


class TokenVerifier:
    """Verifies bearer tokens for one secret, remembering the ones that verified."""

    def __init__(self, secret: str, algorithm: str, capacity: int = REMEMBERED_TOKENS,
                 clock: Callable[[], float] = time.time, leeway_s: float = 0.0) -> None:
        self.secret, self.algorithm, self.capacity = secret, algorithm, capacity
        self.clock, self.leeway_s = clock, leeway_s
        self._verified: dict[str, tuple[Identity, float]] = {}

    def identity(self, header: str | None) -> Identity:
        """The Identity for a raw Authorization header value (None = anonymous)."""
        if header is None:
            return ANONYMOUS
        known = self._verified.get(header)
        if known is not None:
            if known[1] > self.clock() - self.leeway_s:  # PyJWT's rule: expired at exp <= now
                return known[0]
            del self._verified[header]
            raise unauthorized("token expired")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("expected `Authorization: Bearer <token>`")
        buyer_id, exp = verify(token.strip(), self.secret, self.algorithm, self.clock(),
                               self.leeway_s)
        if len(self._verified) >= self.capacity:
            del self._verified[next(iter(self._verified))]
        identity = Identity(buyer_id)
        self._verified[header] = (identity, exp)
        return identity

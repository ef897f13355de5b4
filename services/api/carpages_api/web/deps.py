"""How routes and lanes reach the app's Services, and the bearer scheme /docs shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from carpages_api.bootstrap import Services

# Declares the scheme in OpenAPI (the "Authorize" button in /docs); parsing is done by
# auth.tokens so that a non-Bearer Authorization header is rejected, not taken as anonymous.
bearer_scheme = HTTPBearer(auto_error=False, description="buyer JWT (HS256; `sub` = buyer id)")


def services_of(app: Any) -> Services:
    """The Services the lifespan stored on `app` (a Starlette app; its `state` is untyped)."""
    services = app.state.services
    assert isinstance(services, Services)
    return services


async def get_services(request: Request) -> Services:
    """Dependency form of `services_of` (async: a sync dependency costs a thread hop)."""
    return services_of(request.app)


ServicesDep = Annotated[Services, Depends(get_services)]

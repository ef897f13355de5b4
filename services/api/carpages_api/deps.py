"""Annotated dependencies: routes declare what they need, the lifespan provides it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from carpages_api.state import AppState


async def get_state(request: Request) -> AppState:
    """The AppState the lifespan stored on the app (async: a sync dependency costs a thread hop)."""
    state: AppState = request.app.state.carpages
    return state


State = Annotated[AppState, Depends(get_state)]

"""What a listing path hands back for one page (pure data), shared by the ordered and reco paths."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from carpages_api.listing.composition import SENTINEL
from carpages_api.store.clients import ValkeyClient

Gen = tuple[int, int]
"""(build, version) of the listing index a read was made against."""


class Behind(Exception):
    """The request's replica still names a build the primary has switched away from."""


@dataclass
class Slice:
    """The ids of one page, and where (or whether) their cards were read."""

    gen: Gen
    count: int
    ids: Sequence[int | bytes]
    """Car ids (bytes: already encoded as hash fields)."""
    source: ValkeyClient
    """The client to read the cards from (when `cards` is None)."""
    cards: list[bytes] | None = None
    """Already read, in the same pipeline as the meta check."""
    pin: str | None = None
    write: Awaitable[Any] | None = None
    """A pin write to finish before answering (the response links to it)."""


def ids_of(members: Iterable[bytes]) -> list[int]:
    """Car ids from result members (the sentinel dropped)."""
    return [int(m) for m in members if m != SENTINEL]


def present(raw: Iterable[bytes | None]) -> list[bytes]:
    """Cards that exist: a car removed between the id lookup and here is skipped."""
    return [card for card in raw if card is not None]

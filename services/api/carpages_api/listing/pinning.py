"""Stable reco paging (pure): a viewer's ordered snapshot, packed as uint32s, named by a pin.

Page 1 of a reco listing ranks the matching cars once, moves the cars the viewer has already
seen to the end, and stores that order for PIN_TTL. Its `next` link carries
`pin=<model_version>.<token>`; later pages read their slice of the stored snapshot with GETRANGE,
so a retrain (new model version) or a new popularity count between page 1 and page n can neither
repeat nor skip a car. An expired or unknown pin simply recomputes the order and issues a new pin.

The token of a freshly ranked order is the hash of its stored bytes (`content_token`): viewers
who get the same order (every anonymous visitor of one query, typically) share one pin key, and
a key's bytes never change, so rewriting it is idempotent and a process may skip the rewrite.
The order that replaces a missing pin gets a random token (`new_pin`) instead, so the new link
can never name the key that just went missing.

Stored value: a uint32 (little-endian) total count, then at most `page_window` ids (deeper pages
are refused anyway), so a pin costs at most 4 KB whatever the result size.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from carpages_api.listing.members import Members
from carpages_api.reco.ranking import Viewer

ID_BYTES: Final = 4
HEADER_BYTES: Final = 4
_PIN = re.compile(r"^(?P<version>[A-Za-z0-9_:\-.]{1,64})\.(?P<token>[0-9a-f]{16})$")
_VERSION = re.compile(r"[^A-Za-z0-9_:\-.]")


def safe_version(model_version: str) -> str:
    """The model version as a pin spells it (pin-safe characters, at most 64)."""
    return _VERSION.sub("_", model_version)[:64] or "model"


def new_pin(model_version: str) -> str:
    """A fresh random pin for the `next` link: `<model_version>.<16 hex>`."""
    return f"{safe_version(model_version)}.{secrets.token_hex(8)}"


def content_pin(model_version: str, token: str) -> str:
    """The pin of a content-addressed order: `<model_version>.<content_token>`."""
    return f"{safe_version(model_version)}.{token}"


def content_token(packed: bytes) -> str:
    """16 hex digits naming a packed order (equal bytes, equal token)."""
    return hashlib.blake2b(packed, digest_size=8).hexdigest()


def parse_pin(pin: str) -> tuple[str, str] | None:
    """(model_version, token) of a well-formed pin, else None."""
    match = _PIN.match(pin)
    return (match["version"], match["token"]) if match else None


def pin_id(pin: str, query_hash: str, viewer: Viewer) -> str:
    """The stored name of a pin, bound to its query and viewer.

    A pin pasted onto other filters or shared with another viewer misses (and recomputes)
    instead of serving someone else's order.
    """
    text = f"{pin}|{query_hash}|{viewer.buyer_id}|{','.join(map(str, viewer.seen_ids))}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def snapshot(ranked: Sequence[int], candidates: Iterable[int], seen: set[int]) -> list[int]:
    """The viewer's order: ranked candidates (deduplicated, any the ranker dropped appended),
    then the cars the viewer has already seen, each group in ranked order."""
    members = dict.fromkeys(candidates)
    order = [c for c in dict.fromkeys(ranked) if c in members]
    if len(order) != len(members):
        ranked_set = set(order)
        order += [c for c in members if c not in ranked_set]
    return [c for c in order if c not in seen] + [c for c in order if c in seen]


def ordered(ranked: Sequence[int] | np.ndarray, candidates: Sequence[int] | np.ndarray,
            sorted_candidates: np.ndarray | None = None, members: Members | None = None
            ) -> np.ndarray:
    """`snapshot` with nothing seen, as an int64 array; a ranker that returned exactly a
    permutation of the (distinct) candidates — the usual case — costs one or two sorts and no
    dicts (`sorted_candidates`: the candidates already sorted, when the caller keeps them;
    `members`: those prepared for the check, when the caller keeps them, the cheapest)."""
    order = np.asarray(ranked, dtype=np.int64)
    size = len(candidates)
    if members is None:
        if sorted_candidates is None:
            sorted_candidates = np.sort(np.asarray(candidates, dtype=np.int64))
        members = Members.of(sorted_candidates)
    if len(order) == size and members.permuted_by(order):
        return order
    return np.asarray(snapshot(order.tolist(), np.asarray(candidates, dtype=np.int64).tolist(),
                               set()), dtype=np.int64)


def same_members(order: np.ndarray, sorted_candidates: np.ndarray) -> bool:
    """Whether `order` sorted equals `sorted_candidates` (both int64, equal lengths): by a
    bitmap for distinct candidates over a span of at most `members.BITMAP_SPAN_FACTOR` ids
    each, else by sorting (see `members.Members`)."""
    return Members.of(sorted_candidates).permuted_by(order)


def pack(ids: Sequence[int], window: int) -> bytes:
    """Count header then the first `window` ids, as little-endian uint32."""
    return pack_array(len(ids), np.asarray(ids[:window], dtype="<u4"))


def pack_array(count: int, head: np.ndarray) -> bytes:
    """Count header then `head` (the ids already cut to the window), as little-endian uint32."""
    return np.asarray([count], dtype="<u4").tobytes() + np.asarray(head, dtype="<u4").tobytes()


def byte_range(start: int, stop: int) -> tuple[int, int]:
    """GETRANGE bounds (inclusive) of snapshot positions start..stop."""
    return HEADER_BYTES + start * ID_BYTES, HEADER_BYTES + (stop + 1) * ID_BYTES - 1


def unpack_count(raw: bytes) -> int | None:
    """The total count from a stored header, or None when the pin is missing."""
    if len(raw) < HEADER_BYTES:
        return None
    return int(np.frombuffer(raw[:HEADER_BYTES], dtype="<u4")[0])


def unpack_ids(raw: bytes) -> list[int]:
    """Ids from a GETRANGE slice (a trailing partial id cannot occur; it is ignored)."""
    usable = len(raw) - len(raw) % ID_BYTES
    return [int(i) for i in np.frombuffer(raw[:usable], dtype="<u4")]

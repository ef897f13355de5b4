"""Query parameter names: the design's spellings (aliases), ad-click tracking parameters, and
the `X-Ignored-Params` header that lists every other unknown name (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Final
from urllib.parse import quote

ALIASES: Final = {
    "seen_card_ids": "seen_car_ids",  # seed 001's spelling
    "page": "page_no",  # seed 002's next/previous links
    "make": "make_id", "model": "model_id", "color": "color_id",  # seed 002's CarFilterSet
}
"""The design's spellings -> ours; both are accepted, and merged like repeated parameters."""

TRACKING: Final = frozenset({
    "gclid", "gclsrc", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "yclid", "ttclid",
    "twclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "ref", "srsltid",
})
"""Ad-click and analytics parameters that ads append (with every `utm_*`): ignored silently."""

IGNORED_HEADER: Final = "x-ignored-params"
MAX_LISTED: Final = 20
"""At most this many names in the header (a client needs to see a typo, not a flood)."""


def is_tracking(name: str) -> bool:
    """An ad-click/analytics parameter (utm_*, gclid, fbclid, ...)."""
    return name.startswith("utm_") or name in TRACKING


def ignored_header(names: Iterable[str], known: Collection[str]) -> str | None:
    """`X-Ignored-Params` for these query parameter names: the non-tracking ones that neither
    are in `known` nor alias a name in it, sorted and percent-encoded (a name may hold any
    character); None when there are none."""
    unknown = sorted({n for n in names if ALIASES.get(n, n) not in known and not is_tracking(n)})
    if not unknown:
        return None
    return ",".join(quote(n, safe="-._~[]") for n in unknown[:MAX_LISTED])

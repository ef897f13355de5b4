"""Every Valkey key carpages reads or writes. No other module builds a key string.

Cluster safety: keys that meet in one multi-key command share a hash tag.
- `{cp}`     the listing index, cards, query caches, slug map and cache metadata (one slot, so
             ZINTERSTORE/SUNIONSTORE/ZINTERCARD work unchanged on Valkey Cluster).
- `{<car>}`  one car's page and private data (`dp:{123}`, the seed's name, is already tagged).
- `{b<id>}`  one buyer's dynamic data.
- `{reco}`   recommendation models.
- `{cdc}`    worker heartbeat and bookkeeping.

Generations: the listing index and cards live under a *build* number; a full rebuild writes a new
build and switches `meta()` in one command, so readers never see a half-built index. Query-result
caches also carry a *version* that the applier bumps whenever membership or order changes, so
cached results are invalidated at once without KEYS/SCAN deletes.
"""

from __future__ import annotations

from typing import Final

# ----------------------------------------------------------------------------- expiries (seconds)
QUERY_TTL: Final = 600
"""Cached listing result sets and facet counts (seed 002: 10 minutes)."""
PIN_TTL: Final = 600
"""A viewer's pinned reco order for stable paging."""
LOCK_TTL_MS: Final = 5000
"""Single-flight lock while one API process fills a missing page from MySQL."""
MISSING_TTL: Final = 30
"""Negative cache for ids that are not live cars, so random ids cannot hammer MySQL."""
FILLED_PAGE_TTL: Final = 600
"""Expiry of a page the API filled on a miss (the builder's own writes carry none): bounds how
long a fill that raced with a car leaving the market could keep showing it."""
OLD_BUILD_TTL: Final = 120
"""Grace period for the previous build's keys after a switch (readers mid-request finish)."""
HEARTBEAT_TTL: Final = 30

NUMERIC_FIELDS: Final = ("price", "year", "km", "created", "rating")
"""Sorted-set indexes: member = car id, score = the value."""
SET_FIELDS: Final = (
    "city_id", "make_id", "model_id", "variant_id", "color_id", "fuel_type", "transmission",
    "owner", "feature",
)
"""Set indexes: one set of car ids per (field, value)."""


# ----------------------------------------------------------------------------- dedicated page
def dedicated_page(car_id: int) -> str:
    """STRING: public dedicated-page JSON of a live car. Writer: builder/applier. No TTL."""
    return f"dp:{{{car_id}}}"


def car_private(car_id: int) -> str:
    """HASH: paid-only data — `seller_mobile_no`, `inspection_report` (JSON). Writer: builder."""
    return f"dp:{{{car_id}}}:paid"


def car_interested(car_id: int) -> str:
    """SET: buyer ids with a live offer or test drive on the car (SCARD = interested_people)."""
    return f"dp:{{{car_id}}}:interested"


def car_prefix() -> str:
    """Prefix of every per-car key above (client-side tracking subscribes to it)."""
    return "dp:"


def car_fill_lock(car_id: int) -> str:
    """STRING with PX LOCK_TTL_MS: held by the one API process filling a missing page."""
    return f"dp:{{{car_id}}}:lock"


def car_missing(car_id: int) -> str:
    """STRING with EX MISSING_TTL: this id is not a live car (negative cache). Writer: API."""
    return f"dp:{{{car_id}}}:missing"


def staging(key: str, token: str) -> str:
    """A scratch copy of `key` (same hash tag, so same slot) that a writer fills whole and then
    RENAMEs over `key`: a set or hash is replaced without a moment in which readers (or a
    replica applying the stream) see it empty. `token` is unique per write, so two writers
    never share one. No TTL: RENAME would hand it to `key`."""
    return f"{key}:next:{token}"


def car_position(car_id: int) -> str:
    """STRING: source position of the newest change applied to this car (applier fencing)."""
    return f"dp:{{{car_id}}}:pos"


# ----------------------------------------------------------------------------- per buyer
def buyer_seen(buyer_id: int) -> str:
    """SET: car ids the buyer has viewed. Writer: builder/applier."""
    return f"buyer:{{b{buyer_id}}}:seen"


def buyer_test_drives(buyer_id: int) -> str:
    """SET: car ids with a booked (upcoming) test drive for the buyer."""
    return f"buyer:{{b{buyer_id}}}:td"


def buyer_offers(buyer_id: int) -> str:
    """HASH: car id -> the buyer's latest live offer amount (INR)."""
    return f"buyer:{{b{buyer_id}}}:offers"


def buyer_paid_until(buyer_id: int) -> str:
    """STRING: epoch seconds the buyer's subscription runs to; absent = never paid."""
    return f"buyer:{{b{buyer_id}}}:paid_until"


def buyer_prefix() -> str:
    """Prefix of every per-buyer key (client-side tracking subscribes to it)."""
    return "buyer:"


def buyer_position(buyer_id: int) -> str:
    """STRING: fencing token of the newest change applied to this buyer's keys (applier)."""
    return f"buyer:{{b{buyer_id}}}:pos"


# ----------------------------------------------------------------------------- listing ({cp})
def meta() -> str:
    """HASH `build`, `version`, `slugs`: the current listing build, its query-cache version and
    the token of the current slug map (new random value with every map the builder writes).

    A full rebuild switches `build` (version back to 0) with one HSET; the applier HINCRBYs
    `version` whenever it changes index membership or order.
    """
    return "{cp}:meta"


def build_counter() -> str:
    """STRING counter of build numbers. A new build takes max(counter, unix milliseconds) + 1, so a
    number never comes back, not even after Valkey lost its data (a flush, a restart, a restored
    snapshot): readers keep copies by (build, version) and must never meet an old name again."""
    return "{cp}:builds"


def cards(build: int) -> str:
    """HASH: car id -> listing-card JSON (the seed's `car:` hash) for a build."""
    return f"{{cp}}:b{build}:cards"


def live_cars(build: int) -> str:
    """ZSET: every live car id, score = id (the universe; also the id tie-breaker in orders)."""
    return f"{{cp}}:b{build}:all"


def set_index(build: int, field: str, value: str | int) -> str:
    """SET: live car ids whose `field` equals `value` (features: one set per feature id)."""
    return f"{{cp}}:b{build}:f:{field}:{value}"


def set_values(build: int, field: str) -> str:
    """SET: the values of `field` that have at least one live car (for facets)."""
    return f"{{cp}}:b{build}:v:{field}"


def numeric_index(build: int, field: str) -> str:
    """ZSET: live car id -> numeric value of `field` (price, year, km, created, rating)."""
    return f"{{cp}}:b{build}:n:{field}"


def memberships(build: int) -> str:
    """HASH: car id -> JSON of the index entries the car is in (lets updates remove old ones)."""
    return f"{{cp}}:b{build}:members"


def build_registry(build: int) -> str:
    """SET: every index key of a build, so an old build is expired without SCAN."""
    return f"{{cp}}:b{build}:keys"


def build_position(build: int) -> str:
    """STRING: binlog position (JSON) read just before the build's MySQL snapshot."""
    return f"{{cp}}:b{build}:pos"


def popularity(build: int) -> str:
    """ZSET: live car id -> interaction count (the generic reco order before a model exists)."""
    return f"{{cp}}:b{build}:pop"


def build_prefix(build: int) -> str:
    """Prefix shared by every key of one build (documentation and cleanup scans only)."""
    return f"{{cp}}:b{build}:"


def query_result(build: int, version: int, order: str, query_hash: str) -> str:
    """ZSET (newest/price orders, score encodes order + id) or SET (reco): cached matches."""
    return f"{{cp}}:q:{build}.{version}:{order}:{query_hash}"


def query_scratch(build: int, version: int, query_hash: str, part: str) -> str:
    """Temporary key used while composing a query result (deleted in the same transaction)."""
    return f"{{cp}}:tmp:{build}.{version}:{query_hash}:{part}"


def facet_counts(build: int, version: int, query_hash: str) -> str:
    """STRING: cached facet counts JSON for a query."""
    return f"{{cp}}:facets:{build}.{version}:{query_hash}"


def pinned_order(model_version: str, pin: str) -> str:
    """STRING: a viewer's reco-ordered ids (packed uint32) for stable paging, TTL PIN_TTL."""
    return f"{{cp}}:pin:{model_version}:{pin}"


def listing_prefixes() -> tuple[str, ...]:
    """Prefixes of every key an anonymous listing page is made from, build keys (indexes, cards,
    popularity), the meta and the slug map, and of nothing the API itself writes (results, pins
    and facet counts live under `{cp}:q:`, `{cp}:pin:`, `{cp}:facets:`): client-side tracking of
    the listing's page cache subscribes to them."""
    return (meta(), "{cp}:b", slugs())


def listing_positions() -> str:
    """HASH car id -> fencing token of the newest change applied to the car's listing entries
    (cards, indexes, memberships). Valkey Cluster only: there a car's own keys and the listing
    keys sit in different slots, so the applier fences each slot by itself and the listing's
    slot keeps its own copy of the tokens (carpages_cdc.apply.fencing)."""
    return "{cp}:positions"


def slugs() -> str:
    """HASH: slug token -> JSON `{"type": ..., "filter": ...}`. Writer: builder/applier."""
    return "{cp}:slugs"


def slugs_scratch() -> str:
    """HASH: the next slug map while the builder writes it, RENAMEd over `slugs()` (builder)."""
    return "{cp}:slugs:next"


def slugs_position() -> str:
    """STRING: fencing token of the newest change applied to the slug map (applier)."""
    return "{cp}:slugs:pos"


def invalidations() -> str:
    """Pub/sub channel: the listing `meta()` changed (API refreshes its cached build/version)."""
    return "{cp}:meta:changed"


# ----------------------------------------------------------------------------- recommendations
def reco_current() -> str:
    """STRING: the current model version id. Writer: trainer."""
    return "{reco}:current"


def reco_model(version: str) -> str:
    """HASH: arrays and metadata of one model version (see carpages_reco.store)."""
    return f"{{reco}}:model:{version}"


def reco_versions() -> str:
    """LIST: published model versions, newest first (the previous one serves pinned pages)."""
    return "{reco}:versions"


def reco_published() -> str:
    """Pub/sub channel: a new model version is current."""
    return "{reco}:published"


# ----------------------------------------------------------------------------- worker
def worker_heartbeat(role: str) -> str:
    """STRING with EX HEARTBEAT_TTL: last loop time of a worker role (liveness probe)."""
    return f"{{cdc}}:heartbeat:{role}"


def rebuild_lock() -> str:
    """STRING with PX (REBUILD_LOCK_TTL_MS, renewed while the rebuild runs): held while a full
    rebuild runs, so two never overlap; a killed builder's lock lapses within the TTL."""
    return "{cp}:rebuild:lock"


REBUILD_LOCK_TTL_MS: Final = 10_000
"""Lease of the full-rebuild lock; its holder renews it every third of that."""


def quarantine() -> str:
    """SET of `car:<id>`, `buyer:<id>`, `slugs:0`, `full:0`: entities the applier could not
    build (a fault of the data, not a dependency); its repair pass retries them until they
    build, so the stream never waits on them."""
    return "{cdc}:quarantine"


def valkey_run() -> str:
    """STRING: the run id of the Valkey process the applier last wrote under; another id found
    here means the data came back from a snapshot or a failover (the cache is rebuilt)."""
    return "{cdc}:valkey:run"


def applier_offsets(group: str) -> str:
    """HASH `topic:partition` -> next offset the consumer group committed (written by the
    applier after each commit): a broker whose committed offsets or log end fall below these
    lost data, and the applier rebuilds the whole cache."""
    return f"{{cdc}}:offsets:{group}"

"""`cdc_worker reconcile`: compare the cache with a fresh build from MySQL, optionally repair.

Every live car's page, card, private data, interested set, index memberships and scores are
compared with what the builder would write now; a full run also finds cached cars that are no
longer live, stray index members, pages of cars that left the market, every buyer's keys and the
slug map. Differences are re-checked after `recheck_s` (a change may simply be in flight), so
only divergences that persist are reported. `--sample` checks a random fraction of the live cars
and reports the divergence rate (Meta's Polaris: measure consistency continuously).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from carpages_shared import car_rows, keys
from carpages_shared.progress import ProgressFn

from carpages_cdc import cache_audit
from carpages_cdc.builder import CacheBuilder, NoBuild, current_build
from carpages_cdc.cache_apply import CacheApplier
from carpages_cdc.metrics import Metrics
from carpages_cdc.valkey_client import transaction
from carpages_cdc.work import Work


class BuildChanging(NoBuild):
    """A full rebuild ran during the check: the build compared is no longer (or soon not) served.

    Changes stop flowing into the old build while a rebuild writes the new one, so a comparison
    against it would report divergence that nobody sees; the caller should simply try again.
    """


@dataclass
class Report:
    """What a reconcile found and fixed."""

    build: int = 0
    sample: float = 1.0
    cars_checked: int = 0
    divergent: dict[int, list[str]] = field(default_factory=dict)
    stray_members: list[tuple[str, int]] = field(default_factory=list)
    buyers_checked: int = 0
    buyers_divergent: dict[int, list[str]] = field(default_factory=dict)
    slugs_divergent: bool = False
    repaired: int = 0

    @property
    def divergence_rate(self) -> float:
        """Divergent cars per car checked."""
        return len(self.divergent) / self.cars_checked if self.cars_checked else 0.0

    @property
    def in_step(self) -> bool:
        """Nothing diverges."""
        return not (self.divergent or self.stray_members or self.buyers_divergent or
                    self.slugs_divergent)

    def summary(self) -> str:
        """One line for humans and logs."""
        slugs = "divergent" if self.slugs_divergent else "ok"
        return (f"build {self.build}: cars checked {self.cars_checked}, divergent "
                f"{len(self.divergent)}, repaired {self.repaired}; stray index members "
                f"{len(self.stray_members)}; buyers checked {self.buyers_checked}, divergent "
                f"{len(self.buyers_divergent)}; slugs {slugs}; "
                f"divergence rate {self.divergence_rate:.4f}")


def reconcile(builder: CacheBuilder, sample: float = 1.0, repair: bool = False,
              recheck_s: float = 2.0, rng: random.Random | None = None,
              progress: ProgressFn | None = None) -> Report:
    """Compare (and with `repair`, fix) the cache; blocking. `progress` follows the live cars'
    check (cars checked, cars to check), the bulk of the work."""
    current = current_build(builder.client)
    if current is None:
        raise NoBuild("no listing build: nothing to reconcile (run `cdc_worker rebuild`)")
    _steady(builder, current[0])
    report = Report(build=current[0], sample=sample)
    live = cache_audit.ids(builder, car_rows.LIVE_IDS_SQL)
    full = sample >= 1
    ids = live if full else sorted((rng or random.Random()).sample(
        live, k=min(len(live), max(1, math.ceil(len(live) * sample)))) if live else [])
    report.cars_checked = len(ids)
    suspects = set(_check_cars(builder, report.build, ids, progress))
    buyers: list[int] = []
    if full:
        suspects |= cache_audit.cached_ids(builder.client, report.build) - set(live)
        gone = cache_audit.ids(builder, car_rows.NOT_LIVE_SQL)
        suspects |= set(cache_audit.check_cars(builder, report.build, gone))
        buyers = cache_audit.ids(builder, car_rows.ALL_BUYER_IDS_SQL)
        report.buyers_checked = len(buyers)
    buyer_suspects = cache_audit.check_buyers(builder, buyers) if buyers else {}
    strays = cache_audit.stray_members(builder, report.build) if full else set()
    slugs = full and cache_audit.slugs_differ(builder)
    if (suspects or buyer_suspects or strays or slugs) and recheck_s > 0:
        time.sleep(recheck_s)  # a change in flight converges within this
    # Only what still differs after the pause counts.
    report.divergent = cache_audit.check_cars(builder, report.build, sorted(suspects))
    report.buyers_divergent = cache_audit.check_buyers(builder, sorted(buyer_suspects))
    if strays:
        report.stray_members = sorted(strays & cache_audit.stray_members(builder, report.build))
    report.slugs_divergent = slugs and cache_audit.slugs_differ(builder)
    _steady(builder, report.build)
    if repair and not report.in_step:
        _repair(builder, report)
    return report


def _check_cars(builder: CacheBuilder, build: int, ids: list[int],
                progress: ProgressFn | None) -> dict[int, list[str]]:
    """`cache_audit.check_cars`, a chunk at a time when someone follows the progress."""
    if progress is None:
        return cache_audit.check_cars(builder, build, ids)
    diffs: dict[int, list[str]] = {}
    for start in range(0, len(ids), cache_audit.CHUNK):
        diffs.update(cache_audit.check_cars(builder, build, ids[start:start + cache_audit.CHUNK]))
        progress(min(start + cache_audit.CHUNK, len(ids)), len(ids))
    return diffs


def _steady(builder: CacheBuilder, build: int) -> None:
    """Raise BuildChanging unless `build` is served and no full rebuild is replacing it."""
    current = current_build(builder.client)
    if current is None or current[0] != build:
        raise BuildChanging(f"build {build} was replaced during the check; try again")
    if builder.client.exists(keys.rebuild_lock()):
        raise BuildChanging(f"a full rebuild is replacing build {build}; try again after it")


def _repair(builder: CacheBuilder, report: Report) -> None:
    """Rebuild what diverged (forced: whatever tokens say) and drop stray index members."""
    # The builder re-adds index entries only when a car's recorded memberships differ from its
    # new ones; forget the record of cars whose indexes diverge, so all of them are re-added.
    unindexed = [c for c, why in report.divergent.items()
                 if any(w.startswith(("index", "score", "universe", "memberships")) for w in why)]
    if unindexed:
        builder.client.hdel(keys.memberships(report.build), *map(str, unindexed))
    work = Work(cars=dict.fromkeys(report.divergent, ""),
                buyers=dict.fromkeys(report.buyers_divergent, ""),
                slugs="" if report.slugs_divergent else None)
    CacheApplier(builder, Metrics()).apply(work, force=True)
    gone = [c for c, why in report.divergent.items() if why[0].startswith("not live")]
    if report.stray_members or gone:
        # What the builder cannot remove: entries its membership record does not list.
        pipe = transaction(builder.client, keys.meta())  # every key here is the listing's
        for key, car_id in report.stray_members:
            pipe.srem(key, car_id)
        for car_id in gone:
            for name in keys.NUMERIC_FIELDS:
                pipe.zrem(keys.numeric_index(report.build, name), car_id)
        pipe.hincrby(keys.meta(), "version", 1)
        pipe.publish(keys.invalidations(), report.build)
        pipe.execute()
    report.repaired = (len(report.divergent) + len(report.buyers_divergent) +
                       len(report.stray_members) + int(report.slugs_divergent))

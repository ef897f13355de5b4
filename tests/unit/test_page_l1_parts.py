"""The L1's pure parts: the tracked LRU (fills racing with changes), the remembered tokens, and
the responses both the route and the fast lane build."""

from __future__ import annotations

import time

import jwt
import orjson
import pytest
from carpages_api.auth.tokens import TokenVerifier
from carpages_api.dedicated.overlay import etag, splice
from carpages_api.dedicated.reader import (
    BuyerSnapshot,
    PageRead,
    buyer_snapshot,
    car_snapshot,
    deadline,
    snapshot_read,
)
from carpages_api.dedicated.response import from_read, from_snapshots, public_cache_control
from carpages_api.dedicated.tracked_lru import TrackedLru
from carpages_api.errors import ApiError

PAGE = orjson.dumps({"schema_version": 1, "id": 7, "price": 450000})
SECRET = "unit-secret-" + "0123456789" * 4
CACHE_CONTROL = public_cache_control(30, 300)


def keys_of(ident: int) -> tuple[bytes, ...]:
    return (b"a:%d" % ident, b"b:%d" % ident)


def lru(capacity: int = 3) -> TrackedLru[int, str]:
    return TrackedLru(capacity, keys_of)


def test_a_finished_fill_is_served_until_one_of_its_keys_changes() -> None:
    cache = lru()
    assert cache.finish(cache.begin(1), "one")
    assert cache.get(1) == "one"
    cache.changed([b"x:1", b"a:2"])  # other keys: nothing happens
    assert cache.get(1) == "one"
    cache.changed([b"b:1"])
    assert cache.get(1) is None
    assert cache.invalidations == 1


def test_a_change_during_the_fill_spoils_it() -> None:
    cache = lru()
    fill = cache.begin(1)
    cache.changed([b"a:1"])
    assert not cache.finish(fill, "read before the change")
    assert cache.get(1) is None
    # The next fill, begun after the change, is stored.
    assert cache.finish(cache.begin(1), "read after the change")
    assert cache.get(1) == "read after the change"


def test_a_change_spoils_every_fill_in_flight_but_not_later_ones() -> None:
    cache = lru()
    early = cache.begin(1)
    cache.changed([b"b:1"])
    late = cache.begin(1)
    assert cache.finish(late, "late")
    assert not cache.finish(early, "early")
    assert cache.get(1) == "late"


def test_a_reset_forgets_everything_and_spoils_fills_in_flight() -> None:
    cache = lru()
    cache.finish(cache.begin(1), "one")
    fill = cache.begin(2)
    cache.reset()
    assert cache.get(1) is None
    assert not cache.finish(fill, "two")
    assert len(cache) == 0
    # Keys are still heard after a reset: a new fill is spoiled by its own key's change.
    fill = cache.begin(3)
    cache.changed([b"a:3"])
    assert not cache.finish(fill, "three")


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = lru(capacity=2)
    cache.finish(cache.begin(1), "one")
    cache.finish(cache.begin(2), "two")
    assert cache.get(1) == "one"  # now 2 is the least recently used
    cache.finish(cache.begin(3), "three")
    assert (cache.get(1), cache.get(2), cache.get(3)) == ("one", None, "three")
    # An evicted entry's keys are no longer tracked; a kept entry's still are.
    assert cache._owner == {name: ident for ident in (1, 3) for name in keys_of(ident)}


def test_an_abandoned_fill_stores_nothing_and_releases_its_keys() -> None:
    cache = lru()
    assert not cache.finish(cache.begin(1), None)
    assert cache.get(1) is None
    assert cache._owner == {}


def test_an_entry_expires_with_the_first_of_its_keys() -> None:
    cache = lru()
    cache.finish(cache.begin(1), "gone", deadline=time.monotonic() - 0.001)
    cache.finish(cache.begin(2), "kept", deadline=time.monotonic() + 60)
    assert cache.get(1) is None
    assert cache.get(2) == "kept"
    assert deadline([-1, -2], 100.0) is None
    assert deadline([-1, 5000, 2500], 100.0) == 102.5


# ----------------------------------------------------------------------------- snapshots


def test_snapshots_give_what_the_pipeline_would() -> None:
    car = car_snapshot(7, [PAGE, 3, [b"+9198", b'{"ok":1}'], -1, -1, -2])
    assert car is not None
    assert car.anon_etag == etag(splice(PAGE, car.anon_overlay))
    buyer = buyer_snapshot([{b"7", b"9"}, set(), {b"7": b"420000"}, b"4102444800",
                            -1, -2, -1, -1])
    now = time.time()
    from_snapshot = snapshot_read(7, car, 11, buyer)
    piped = PageRead(7, PAGE, False, 3, 11, True, False, b"420000", b"4102444800", b"+9198",
                     b'{"ok":1}')
    assert from_snapshot.overlay((), now) == piped.overlay((), now)
    assert snapshot_read(8, car, 11, BuyerSnapshot(frozenset(), frozenset(), {}, None)) \
        .overlay((), now).is_seen is False
    assert car_snapshot(7, [None, 0, [None, None], -2, -2, -2]) is None


@pytest.mark.parametrize(("buyer_id", "seen", "if_none_match"), [
    (None, (), None), (None, (7,), None), (None, (), "*"), (11, (), None), (11, (7,), "*")])
def test_snapshot_and_pipeline_responses_are_identical(
        buyer_id: int | None, seen: tuple[int, ...], if_none_match: str | None) -> None:
    car = car_snapshot(7, [PAGE, 3, [b"+9198", b'{"ok":1}'], -1, -1, -1])
    assert car is not None
    buyer = buyer_snapshot([{b"9"}, {b"7"}, {b"7": b"1"}, b"4102444800", -1, -1, -1, -1])
    piped = PageRead(7, PAGE, False, 3, buyer_id, False, True, b"1", b"4102444800", b"+9198",
                     b'{"ok":1}') if buyer_id else PageRead(7, PAGE, False, 3)
    one = from_snapshots(7, car, buyer_id, buyer if buyer_id else None, seen, if_none_match,
                         CACHE_CONTROL)
    two = from_read(piped, seen, if_none_match, True, CACHE_CONTROL)
    assert one == two
    if buyer_id is not None:
        assert b"+9198" in one[2]
    else:
        assert b"+9198" not in one[2]


# ----------------------------------------------------------------------------- tokens


def bearer(exp: float, sub: str = "5") -> str:
    return "Bearer " + jwt.encode({"sub": sub, "exp": int(exp)}, SECRET, algorithm="HS256")


def test_a_remembered_token_still_expires() -> None:
    now = [time.time()]
    verifier = TokenVerifier(SECRET, "HS256", clock=lambda: now[0])
    header = bearer(now[0] + 60)
    assert verifier.identity(header).buyer_id == 5
    assert verifier.identity(header).buyer_id == 5  # remembered
    now[0] += 60  # exp <= now: expired, as PyJWT has it
    with pytest.raises(ApiError) as expired:
        verifier.identity(header)
    assert (expired.value.status, expired.value.detail) == (401, "token expired")


def test_only_verified_tokens_are_remembered_and_the_memory_is_bounded() -> None:
    verifier = TokenVerifier(SECRET, "HS256", capacity=2)
    forged = "Bearer " + jwt.encode({"sub": "5", "exp": int(time.time()) + 60}, "x" * 40,
                                    algorithm="HS256")
    for _ in range(2):
        with pytest.raises(ApiError):
            verifier.identity(forged)
    headers = [bearer(time.time() + 60, sub=str(n)) for n in (1, 2, 3)]
    assert [verifier.identity(h).buyer_id for h in headers] == [1, 2, 3]
    assert list(verifier._verified) == headers[1:]
    assert verifier.identity(None).anonymous

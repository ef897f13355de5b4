"""car_entries: what both writers of a car's own keys (API miss fill, worker) write."""

from __future__ import annotations

import orjson
from carpages_shared.assembly import PRIVATE_FIELDS, car_entries, page

from tests.unit.test_assembly_json import car


def test_entries_are_the_page_the_private_fields_and_the_interested_ids() -> None:
    entries = car_entries(car(interested={9, 5, 6}))
    assert entries.page == page(car()).model_dump_json().encode()
    assert entries.private == {"seller_mobile_no": b"+919800000000",
                               "inspection_report": b'{"engine":"ok"}'}
    assert entries.stale_private == ()
    assert entries.interested == (5, 6, 9)


def test_fields_a_car_no_longer_has_are_named_for_deletion() -> None:
    entries = car_entries(car(inspection=None, interested=set()))
    assert set(entries.private) | set(entries.stale_private) == set(PRIVATE_FIELDS)
    assert entries.stale_private == ("inspection_report",)
    assert entries.interested == ()
    assert orjson.loads(entries.page)["inspection"] is None

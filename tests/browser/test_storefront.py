"""The storefront in a real browser, on real MariaDB, CDC, Valkey and the API: what a visitor
sees, and that a change in MySQL reaches the HTML."""

from __future__ import annotations

import math
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import jwt

from tests.browser.conftest import Site
from tests.browser.storefront_support import STOREFRONT
from tests.integration.cdc_support import execute, query

CAR = {"page": "[data-testid=car-page]", "price": "[data-testid=price]",
       "photos": "[data-testid=photo]", "mobile": "[data-testid=seller-mobile]",
       "locked": "[data-testid=seller-locked]", "missing": "[data-testid=not-found]"}
LISTING = {"count": "[data-testid=count]", "cards": "[data-testid=card]",
           "page": "[data-testid=page]", "next": "[data-testid=next]",
           "previous": "[data-testid=previous]", "fuel": "[data-testid=facet-fuel_type] li"}


def live_car(site: Site, nth: int) -> tuple[int, int]:
    """The nth live car (by id) and its price; each test takes its own so they stay apart."""
    rows = query(site.mysql_port, site.database,
                 "SELECT id, price FROM car WHERE status = 'live' ORDER BY id LIMIT 1 OFFSET %s",
                 (nth,))
    return int(rows[0][0]), int(rows[0][1])


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def reload_until(site: Site, session: str, what: str, done: Any, timeout: float = 30,
                 **kw: Any) -> dict[str, Any]:
    """Reload the session's page until `done(answer)`; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        answer = site.browser.reload(session=session, **kw)
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: status "
                                 f"{answer['status']}, {answer['found']}")
        time.sleep(0.2)


def test_dedicated_page_shows_price_and_photos_from_the_api(site: Site) -> None:
    car, price = live_car(site, 0)
    urls = [r[0] for r in query(site.mysql_port, site.database,
                                "SELECT url FROM car_image WHERE car_id = %s ORDER BY position",
                                (car,))]
    got = site.browser.goto(f"{site.url}/user-cars/{car}", session="anonymous", queries=CAR,
                            screenshot=str(site.shots / "dedicated-page.png"))
    assert got["status"] == 200
    assert got["found"]["page"][0]["carId"] == str(car)
    shown = got["found"]["price"][0]
    assert shown["price"] == str(price)
    assert digits(shown["text"]) == str(price)
    photos = [p["src"] for p in got["found"]["photos"]]
    assert photos
    assert photos == urls[:len(photos)]
    assert got["found"]["locked"]
    assert not got["found"]["mobile"]


def test_price_change_in_mysql_shows_on_reload(site: Site) -> None:
    car, price = live_car(site, 1)
    first = site.browser.goto(f"{site.url}/user-cars/{car}", session="anonymous", queries=CAR)
    assert first["found"]["price"][0]["price"] == str(price)
    execute(site.mysql_port, site.database, "UPDATE car SET price = %s WHERE id = %s",
            args=(price + 12345, car))
    after = reload_until(site, "anonymous", "the new price in the HTML",
                         lambda a: a["found"]["price"][0]["price"] == str(price + 12345),
                         queries=CAR)
    assert digits(after["found"]["price"][0]["text"]) == str(price + 12345)


def test_sold_car_is_a_404_not_found_page(site: Site) -> None:
    car, _ = live_car(site, 2)
    assert site.browser.goto(f"{site.url}/user-cars/{car}", session="anonymous",
                             queries=CAR)["status"] == 200
    execute(site.mysql_port, site.database, "UPDATE car SET status = 'sold' WHERE id = %s",
            args=(car,))
    gone = reload_until(site, "anonymous", "the sold car's 404", lambda a: a["status"] == 404,
                        queries=CAR)
    assert gone["found"]["missing"]
    assert not gone["found"]["price"]


def test_slug_listing_shows_the_count_and_pages(site: Site) -> None:
    city, slug, count = query(
        site.mysql_port, site.database,
        "SELECT ci.name, s.value, COUNT(*) n FROM car c JOIN locality l ON l.id = c.locality_id"
        " JOIN city ci ON ci.id = l.city_id JOIN slug s ON s.type = 'city' AND s.filter = ci.id"
        " WHERE c.status = 'live' GROUP BY ci.id, ci.name, s.value ORDER BY n DESC LIMIT 1")[0]
    assert count > 20, "the demo city must span more than one page"
    pages = math.ceil(count / 20)
    first = site.browser.goto(f"{site.url}/used-cars-in-{slug}?order_by=newest",
                              session="anonymous", queries=LISTING,
                              screenshot=str(site.shots / "listing.png"))
    assert first["status"] == 200
    assert digits(first["found"]["count"][0]["text"]) == str(count)
    assert first["found"]["page"][0]["text"] == f"Page 1 of {pages}"
    assert len(first["found"]["cards"]) == 20
    assert not first["found"]["previous"]
    assert first["found"]["fuel"], "facet counts are shown as filter options"
    second = site.browser.click("[data-testid=next]", session="anonymous", queries=LISTING)
    assert "page_no=2" in second["url"]  # a client-side navigation: no document status
    assert second["url"].startswith(f"{site.url}/used-cars-in-{slug}?")
    assert second["found"]["page"][0]["text"] == f"Page 2 of {pages}"
    ids_1 = {c["carId"] for c in first["found"]["cards"]}
    ids_2 = {c["carId"] for c in second["found"]["cards"]}
    assert len(ids_2) == min(20, count - 20)
    assert not ids_1 & ids_2
    back = site.browser.click("[data-testid=previous]", session="anonymous", queries=LISTING)
    assert {c["carId"] for c in back["found"]["cards"]} == ids_1
    assert all(city in c["text"] for c in first["found"]["cards"] + second["found"]["cards"])


def test_paid_buyer_sees_the_seller_number_and_an_unpaid_one_does_not(site: Site) -> None:
    paid, unpaid = (int(r[0]) for r in query(site.mysql_port, site.database,
                                             "SELECT id FROM buyer ORDER BY id LIMIT 2"))
    car, mobile = query(site.mysql_port, site.database,
                        "SELECT c.id, s.mobile_no FROM car c JOIN seller s ON s.id = c.seller_id"
                        " WHERE c.status = 'live' ORDER BY c.id LIMIT 1 OFFSET 3")[0]
    execute(site.mysql_port, site.database,
            "UPDATE buyer SET paid_until = UTC_TIMESTAMP() + INTERVAL 2 DAY WHERE id = %s",
            args=(paid,))
    execute(site.mysql_port, site.database, "UPDATE buyer SET paid_until = NULL WHERE id = %s",
            args=(unpaid,))
    for session, buyer in (("paid", paid), ("unpaid", unpaid)):
        token = jwt.encode({"sub": str(buyer), "exp": int(time.time()) + 3600},
                           site.jwt_secret, algorithm="HS256")
        site.browser.goto(f"{site.url}/user-cars/{car}", session=session, queries=CAR,
                          cookies=[{"name": "buyer_token", "value": token,
                                    "domain": "127.0.0.1"}])
    shown = reload_until(site, "paid", "the paid buyer's seller number",
                         lambda a: bool(a["found"]["mobile"]), queries=CAR,
                         screenshot=str(site.shots / "dedicated-page-paid.png"))
    assert shown["found"]["mobile"][0]["text"] == mobile
    hidden = site.browser.reload(session="unpaid", queries=CAR)
    assert hidden["status"] == 200
    assert hidden["found"]["locked"]
    assert not hidden["found"]["mobile"]
    assert mobile not in hidden["html"]


def test_anonymous_refetch_is_answered_304(site: Site) -> None:
    car, price = live_car(site, 4)
    # The history cookie is set up front so both renders ask the API the same question.
    cookie = [{"name": "seen_car_ids", "value": str(car), "domain": "127.0.0.1"}]
    first = site.browser.goto(f"{site.url}/user-cars/{car}", session="revalidating",
                              cookies=cookie, queries=CAR)
    again = site.browser.reload(session="revalidating", queries=CAR)
    assert first["status"] == again["status"] == 200
    assert again["found"]["page"][0]["apiStatus"] == "304"
    assert again["found"]["price"][0]["price"] == str(price)


def test_committed_api_types_match_the_running_api(site: Site, tmp_path: Path) -> None:
    fresh = tmp_path / "api-types.ts"
    subprocess.run([str(STOREFRONT / "node_modules" / ".bin" / "openapi-typescript"),
                    f"{site.api_url}/openapi.json", "-o", str(fresh)], check=True,
                   capture_output=True, stdin=subprocess.DEVNULL)
    committed = STOREFRONT / "src" / "lib" / "api-types.ts"
    assert fresh.read_text() == committed.read_text(), (
        "examples/storefront/src/lib/api-types.ts is stale: with the API running, "
        "`cd examples/storefront && API_URL=... npm run gen:api`")

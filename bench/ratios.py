"""The arithmetic behind the report's ratio columns and the charts, on a run's saved figures
(`{scenario: {"connections", "rps", "p99_ms", ...}}`): every HTTP scenario against the two
floors at the same concurrency, and one server against another scenario by scenario."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Figures = Mapping[str, Mapping[str, Any]]
"""One run's HTTP figures by scenario name."""

FLOORS = ("raw floor", "floor")
"""The raw ASGI floor and the FastAPI `/healthz` floor; " c1" names their 1-connection runs."""


def floor_of(http: Figures, base: str, conns: int) -> Mapping[str, Any] | None:
    """The floor `base` measured at `conns` connections, if the run has it."""
    for name in (base, f"{base} c1"):
        figures = http.get(name)
        if figures is not None and figures["connections"] == conns:
            return figures
    return None


def ratio(num: float, den: float) -> float | None:
    """num / den, or None when there is nothing to divide by."""
    return num / den if den else None


def versus_floors(http: Figures) -> dict[str, dict[str, float | None]]:
    """{scenario: {floor: req/s of the scenario / req/s of that floor}}, each floor taken at the
    scenario's own concurrency (None when the run has no such floor)."""
    out: dict[str, dict[str, float | None]] = {}
    for name, figures in http.items():
        out[name] = {}
        for base in FLOORS:
            floor = floor_of(http, base, figures["connections"])
            out[name][base] = None if floor is None else ratio(figures["rps"], floor["rps"])
    return out


@dataclass(frozen=True)
class ServerRow:
    """One scenario under two servers: `other` over `base` for req/s and for p99."""

    scenario: str
    conns: int
    rps: dict[str, float]
    p99_ms: dict[str, float]
    rps_ratio: float | None
    p99_ratio: float | None
    vs_raw_floor: dict[str, float | None]
    """Each server's req/s over its own raw floor at the same concurrency."""


def server_rows(servers: Mapping[str, Figures], base: str, other: str) -> list[ServerRow]:
    """A row per scenario measured under both servers, in the run's order."""
    rows = []
    for name, first in servers[base].items():
        second = servers[other].get(name)
        if second is None:
            continue
        pair = {base: first, other: second}
        rows.append(ServerRow(
            scenario=name, conns=first["connections"],
            rps={s: f["rps"] for s, f in pair.items()},
            p99_ms={s: f["p99_ms"] for s, f in pair.items()},
            rps_ratio=ratio(second["rps"], first["rps"]),
            p99_ratio=ratio(second["p99_ms"], first["p99_ms"]),
            vs_raw_floor={s: _over_raw_floor(servers[s], f) for s, f in pair.items()}))
    return rows


def _over_raw_floor(http: Figures, figures: Mapping[str, Any]) -> float | None:
    raw = floor_of(http, "raw floor", figures["connections"])
    return None if raw is None else ratio(figures["rps"], raw["rps"])

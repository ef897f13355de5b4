"""Summaries, the printed table, `tests/chaos/results/<timestamp>.json` and RELIABILITY.md."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
RELIABILITY = Path(__file__).resolve().parents[2] / "RELIABILITY.md"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def summarise(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per fault kind: convergence p50/max, worst counts, restarts, failures."""
    out: dict[str, dict[str, Any]] = {}
    for kind in result["faults"]:
        rounds = [r for r in result["rounds"] if r["kind"] == kind]
        if not rounds:
            continue
        conv = [r["converge_s"] for r in rounds if r["converge_s"] is not None]
        backs = [v for r in rounds for v in r["back_s"].values()]
        outages = [r["outage"] for r in rounds if r["outage"]]
        restarts: dict[str, int] = {}
        for r in rounds:
            for name, n in r["restarts"].items():
                restarts[name] = restarts.get(name, 0) + n
        out[kind] = {
            "rounds": len(rounds),
            "converged": f"{len(conv)}/{len(rounds)}",
            "converge_p50_s": percentile(conv, 50), "converge_max_s": max(conv, default=None),
            "whole_max_s": max((r["whole_s"] for r in rounds if r["whole_s"] is not None),
                               default=None),
            "back_max_s": None if None in backs else max(backs, default=None),
            "divergent_max": max(r["divergent"] for r in rounds),
            "count_mismatches_max": max(len(r["count_mismatches"]) for r in rounds),
            "lost_max": max(r["lost"] for r in rounds),
            "restarts": restarts,
            "unexpected_exits": [e for r in rounds for e in r["unexpected_exits"]],
            "log_errors": sum(sum(r["log_errors"].values()) for r in rounds),
            "outage_codes": _merge([o["codes"] for o in outages]),
            "outage_max_latency_s": max((o["max_latency_s"] for o in outages), default=None),
            "ready_after_max_s": max((r["ready_after_s"] for r in rounds
                                      if r["ready_after_s"] is not None), default=None),
            "outage_write_visible_max_s": max(
                (r["outage_write_visible_s"] for r in rounds
                 if r["outage_write_visible_s"] is not None), default=None),
            "failures": sorted({f for r in rounds for f in r["failures"]}),
            "passed": not any(r["failures"] for r in rounds),
        }
    return out


def _merge(dicts: Sequence[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    """The per-kind table (markdown)."""
    lines = [
        "| fault | converged | p50 s | max s | whole s | back s | divergent | counts | lost "
        "| restarts | unexpected exits | log errors | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|",
    ]
    for kind, s in summary.items():
        restarts = ", ".join(f"{k} {v}" for k, v in s["restarts"].items()) or "0"
        lines.append(
            f"| {kind} | {s['converged']} | {_fmt(s['converge_p50_s'])} | "
            f"{_fmt(s['converge_max_s'])} | {_fmt(s['whole_max_s'])} | {_fmt(s['back_max_s'])} | "
            f"{s['divergent_max']} | {s['count_mismatches_max']} | {s['lost_max']} | {restarts} | "
            f"{', '.join(s['unexpected_exits']) or '—'} | {s['log_errors']} | "
            f"{'pass' if s['passed'] else 'FAIL: ' + '; '.join(s['failures'])} |")
    outage = [(k, s) for k, s in summary.items() if s["outage_codes"]]
    if outage:
        lines += ["", "| Valkey outage | API codes during it | max latency s | /readyz + /listing/ "
                  "200 after s | outage write visible after s |", "|---|---|---:|---:|---:|"]
        for kind, s in outage:
            codes = ", ".join(f"{k}×{v}" for k, v in sorted(s["outage_codes"].items()))
            lines.append(f"| {kind} | {codes} | {_fmt(s['outage_max_latency_s'])} | "
                         f"{_fmt(s['ready_after_max_s'])} | "
                         f"{_fmt(s['outage_write_visible_max_s'])} |")
    return "\n".join(lines)


def passed(summary: dict[str, dict[str, Any]]) -> bool:
    return all(s["passed"] for s in summary.values())


def run_passed(result: dict[str, Any]) -> bool:
    """Every fault kind passed, the baseline was clean, and reconcile (when run) was in step."""
    closing = result.get("reconcile")
    return (passed(result.setdefault("summary", summarise(result)))
            and result["baseline"]["divergent"] == 0
            and (closing is None or bool(closing["in_step"])))


def is_cluster(result: dict[str, Any]) -> bool:
    return result.get("valkey") == "cluster"


def cluster_notes(result: dict[str, Any]) -> str:
    """Which node each Valkey fault hit, and what the closing reconcile said."""
    hit = [f"`{r['kind']}` {', '.join(sorted({**r.get('stopped', {}), **r['killed']}))}"
           for r in result["rounds"] if "node" in r["kind"]]
    closing = result.get("reconcile")
    said = "not run" if closing is None else (
        f"exit {closing['exit']}, {closing['summary']}")
    return (f"Nodes hit: {'; '.join(hit) or 'none'}. Closing `carpages_cdc reconcile` on the "
            f"cluster: {said}.")


def stamp(result: dict[str, Any]) -> str:
    return str(result["when"]).replace("-", "").replace(":", "").replace("+0000", "Z")[:15] + "Z"


def save(result: dict[str, Any], results_dir: Path = RESULTS,
         reliability: Path = RELIABILITY) -> Path:
    """Write the JSON result and append the run's section to RELIABILITY.md."""
    summary = result.setdefault("summary", summarise(result))
    results_dir.mkdir(parents=True, exist_ok=True)
    cluster = is_cluster(result)
    path = results_dir / f"{stamp(result)}{'-cluster' if cluster else ''}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    what = f"seed {result['seed']}, {result['cars']} cars"
    title = (f"Cluster variant run {result['when']} (3-node Valkey Cluster, {what})" if cluster
             else f"Run {result['when']} ({what})")
    section = [f"\n## {title}", "",
               f"{result['rounds_per_kind']} round(s) per fault kind, deadline "
               f"{result['deadline_s']} s, {result['cpus']} CPUs, supervisor: "
               f"{'yes' if result['supervisor'] else 'no (the harness respawned dead services)'}"
               f"; {result.get('elapsed_s')} s in all. Raw: `tests/chaos/results/{path.name}`.",
               "", table(summary), ""]
    if cluster:
        section += [cluster_notes(result), ""]
    target = "chaos-cluster" if cluster else "chaos"
    section += [f"**{'PASSED' if run_passed(result) else 'FAILED'}** — replay with "
                f"`make {target} ARGS='--seed {result['seed']} --cars {result['cars']}'`.", ""]
    with reliability.open("a") as fh:
        fh.write("\n".join(section))
    return path

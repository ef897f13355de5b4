"""One chaos run: its own stack, a baseline check, then rounds of writes + one fault each, the
convergence measurement and a full oracle pass after each."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from carpages_local import stack
from carpages_shared.dsn import mysql_params

from tests.chaos import evidence, probe
from tests.chaos.faults import KINDS, FaultContext, FaultRecord, inject
from tests.chaos.oracle import Expected, ListingQuery, Oracle, diff_page
from tests.chaos.processes import SERVICES, Processes
from tests.chaos.writer import Writer

RECONCILE_LIMIT_S = 300.0
"""Longest the closing `carpages_cdc reconcile` may run (2,000 cars take seconds)."""
SERVICE_BACK_S = 5.0
CONVERGE_LIMIT_S = 10.0
READY_LIMIT_S = 10.0
OUTAGE_WRITE_LIMIT_S = 5.0


@dataclass
class Options:
    seed: int = field(default_factory=lambda: random.randrange(1, 1_000_000))
    cars: int = 10000
    rounds: int = 1
    faults: tuple[str, ...] = KINDS
    deadline_s: float = 10.0  # full oracle pass this long after the system is whole
    write_s: float = 6.0  # writes per round (they go on until the fault is over)
    root: Path = Path(".stack-chaos")
    concurrency: int = 32
    respawn: bool = True  # without a supervisor, the harness restarts dead services
    cluster: bool = False  # a 3-node Valkey Cluster instead of one Valkey (the cluster variant)
    log: Callable[[str], None] = print


@dataclass
class Round:
    kind: str
    round: int
    whole_s: float | None = None  # fault injected -> whole again
    converge_s: float | None = None  # whole (and writes over) -> touched cars + counts match
    touched_cars: int = 0
    commits: int = 0
    divergent: int = 0
    divergent_fields: dict[str, int] = field(default_factory=dict)
    divergent_examples: list[dict[str, Any]] = field(default_factory=list)
    count_mismatches: list[dict[str, Any]] = field(default_factory=list)
    lost: int = 0
    lost_examples: list[dict[str, Any]] = field(default_factory=list)
    killed: dict[str, int] = field(default_factory=dict)
    stopped: dict[str, int] = field(default_factory=dict)  # frozen (SIGSTOP, then SIGCONT)
    back_s: dict[str, float | None] = field(default_factory=dict)
    beating_s: dict[str, float | None] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    unexpected_exits: list[str] = field(default_factory=list)
    outage: dict[str, Any] | None = None
    ready_after_s: float | None = None
    outage_write_visible_s: float | None = None
    log_errors: dict[str, int] = field(default_factory=dict)
    log_samples: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    unconverged_at_deadline: dict[str, Any] | None = None
    convergence_trace: list[dict[str, Any]] = field(default_factory=list)
    """Each convergence poll: seconds after whole, pages read, what still differed, and any
    page or count that had matched and differed again (what a slow convergence was)."""
    carried_over: bool = False  # the previous round's full pass was not clean


class LogWatch:
    """New error lines in `<root>/logs/*.log` since the last call."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "logs"
        self.offsets: dict[Path, int] = {}
        self.take()

    def take(self) -> tuple[dict[str, int], list[str]]:
        counts: dict[str, int] = {}
        samples: list[str] = []
        for log in sorted(self.dir.glob("*.log")):
            size = log.stat().st_size
            start = self.offsets.get(log, 0)
            if size > start:
                with log.open("rb") as fh:
                    fh.seek(start)
                    text = fh.read(size - start).decode(errors="replace")
                for line in text.splitlines():
                    if any(m in line for m in ("Traceback", "ERROR", "CRITICAL", "Error:")):
                        counts[log.stem] = counts.get(log.stem, 0) + 1
                        if len(samples) < 6 and line.strip() not in samples:
                            samples.append(f"{log.stem}: {line.strip()[:200]}")
            self.offsets[log] = size
        return counts, samples


PROBE_SAMPLE = 200
"""Pages read per convergence poll while more than this many still differ."""


class Harness:
    def __init__(self, opts: Options, env: stack.StackEnv, root: Path) -> None:
        self.opts = opts
        self.root = root
        self.vars = env.variables()
        mysql = mysql_params(self.vars["MYSQL_URL"])
        self.oracle = Oracle(mysql)
        self.writer = Writer(mysql, opts.seed)
        self.procs = Processes(root, env, respawn=opts.respawn)
        self.client = httpx.AsyncClient(base_url=self.vars["API_URL"], limits=httpx.Limits(
            max_connections=opts.concurrency + 8, max_keepalive_connections=opts.concurrency))
        self.logs = LogWatch(root)
        self.queries: list[ListingQuery] = []
        self.dirty = False

    async def monitor(self) -> None:
        while True:
            self.procs.check()
            await asyncio.sleep(0.25)

    # ------------------------------------------------------------------ checks

    async def compare(self, expected: dict[int, Expected], queries: list[ListingQuery],
                      want: dict[str, int]) -> tuple[dict[int, list[str]], list[str],
                                                     dict[int, probe.Answer]]:
        answers, got = await asyncio.gather(
            probe.pages(self.client, expected, self.opts.concurrency),
            probe.counts(self.client, queries))
        bad = {c: d for c in expected if (d := diff_page(expected[c], *answers[c]))}
        return bad, [q.name for q in queries if got.get(q.name) != want[q.name]], answers

    async def converge(self, cars: set[int], t0: float, deadline: float,
                       trace: list[dict[str, Any]]) -> tuple[float | None, dict[str, Any] | None]:
        """Seconds from t0 until the touched cars and the listing counts all match, or None and
        what was still wrong at the deadline. Each poll is appended to `trace`."""
        expected = await asyncio.to_thread(self.oracle.pages, cars)
        want = await asyncio.to_thread(self.oracle.counts, self.queries)
        pending, pending_q = dict(expected), list(self.queries)
        rng = random.Random(self.opts.seed)
        matched: set[int] = set()  # cars whose page matched in some poll
        matched_q: set[str] = set()

        async def poll(phase: str, pages: dict[int, Expected],
                       queries: list[ListingQuery]) -> tuple[dict[int, list[str]], list[str]]:
            at = time.monotonic() - t0
            bad, bad_q, answers = await self.compare(pages, queries, want)
            flipped = sorted(c for c in bad if c in matched)
            flipped_q = sorted(q for q in bad_q if q in matched_q)
            entry: dict[str, Any] = {"at_s": round(at, 3), "phase": phase, "pages": len(pages),
                                     "bad_cars": len(bad), "bad_queries": sorted(bad_q)}
            if flipped or flipped_q:
                entry["flipped_queries"] = flipped_q
                entry["flipped"] = [
                    {"car_id": c, "fields": bad[c], "api_status": answers[c][0],
                     "expected": {f: (expected[c] or {}).get(f) for f in bad[c][:3]},
                     "api": {f: (answers[c][1] or {}).get(f) for f in bad[c][:3]}}
                    for c in flipped[:3]]
            elif bad:
                entry["examples"] = {c: bad[c][:3] for c in sorted(bad)[:3]}
            if len(trace) < 80:
                trace.append(entry)
            matched.update(c for c in pages if c not in bad)
            matched_q.update(q.name for q in queries if q.name not in bad_q)
            return bad, bad_q

        while True:
            started = time.monotonic()
            if len(pending) > PROBE_SAMPLE:
                # Thousands of pages read every 0.2 s would take the machine's cores from the
                # recovery being timed; while a random sample still differs, so does the whole.
                sample = {c: pending[c] for c in rng.sample(sorted(pending), PROBE_SAMPLE)}
                bad, bad_q = await poll("sample", sample, pending_q)
                if bad or bad_q:
                    pending = {c: e for c, e in pending.items() if c not in sample or c in bad}
                    pending_q = [q for q in self.queries if q.name in bad_q]
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                    continue
            bad, bad_q = await poll("pending", pending, pending_q)
            if not bad and not bad_q:  # confirm: nothing that matched earlier went back
                bad, bad_q = await poll("confirm", expected, self.queries)
                if not bad and not bad_q:
                    return started - t0, None
            pending = {c: expected[c] for c in bad}
            pending_q = [q for q in self.queries if q.name in bad_q]
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        # What was still wrong at the deadline (the full pass says whether it stayed).
        bad, bad_q, _ = await self.compare(pending, pending_q, want)
        return None, {"cars": len(bad), "queries": sorted(bad_q),
                      "fields": sorted({f for fs in bad.values() for f in fs}),
                      "examples": sorted(bad)[:5]}

    async def full_pass(self, res: Round, deadline: float) -> None:
        """Every car and every count; anything wrong is re-read after the deadline."""
        expected = await asyncio.to_thread(self.oracle.pages, None)
        want = await asyncio.to_thread(self.oracle.counts, self.queries)
        bad, bad_q, answers = await self.compare(expected, self.queries, want)
        suspects = set(bad) | {lu.car_id for lu in self.writer.ledger.check(answers)}
        if suspects or bad_q:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()) + 0.5)
            expected2 = await asyncio.to_thread(self.oracle.pages, suspects)
            want = await asyncio.to_thread(self.oracle.counts, self.queries)
            bad, bad_q, again = await self.compare(expected2, self.queries, want)
            answers.update(again)
            expected.update(expected2)
        got = await probe.counts(self.client, [q for q in self.queries if q.name in bad_q])
        res.count_mismatches = [{"query": n, "sql": want[n], "api": got.get(n)} for n in bad_q]
        res.divergent = len(bad)
        for car_id, fields in sorted(bad.items()):
            for f in fields:
                res.divergent_fields[f] = res.divergent_fields.get(f, 0) + 1
            if len(res.divergent_examples) < 8:
                status, body = answers[car_id]
                want_page = expected[car_id]
                res.divergent_examples.append({
                    "car_id": car_id, "fields": fields, "api_status": status,
                    "expected": {f: (want_page or {}).get(f, 404 if want_page is None else None)
                                 for f in fields[:3]},
                    "api": {f: (body or {}).get(f) for f in fields[:3]}})
        with self.writer.lock:
            lost = self.writer.ledger.check(answers)
        res.lost = len(lost)
        res.lost_examples = [asdict(lu) for lu in lost[:8]]
        looked = [e["car_id"] for e in res.divergent_examples] + [
            e["car_id"] for e in res.lost_examples]
        if looked:  # where the divergence lives: read MySQL and Valkey directly
            seen = await asyncio.to_thread(evidence.look, self.writer.mysql, self.vars, looked)
            for example in res.divergent_examples + res.lost_examples:
                example["direct"] = seen.get(example["car_id"])

    async def reconcile(self) -> dict[str, Any]:
        """The project's own check, read-only, after the last round: `carpages_cdc reconcile`
        compares every cached car, buyer and index member with MySQL (exit 0 = in step)."""
        env = stack.service_env(self.root, self.vars)
        argv = [sys.executable, "-m", "carpages_cdc", "reconcile"]
        try:
            done = await asyncio.to_thread(
                subprocess.run, argv, env=env, capture_output=True, text=True, check=False,
                stdin=subprocess.DEVNULL, timeout=RECONCILE_LIMIT_S)
        except subprocess.TimeoutExpired:
            return {"exit": None, "in_step": False, "divergent": None,
                    "summary": f"no answer in {RECONCILE_LIMIT_S:.0f} s", "details": []}
        lines = done.stdout.splitlines()
        summary = next((ln.removeprefix("reconcile: ") for ln in lines
                        if ln.startswith("reconcile:")),
                       (done.stderr.strip().splitlines() or ["(no output)"])[-1])
        found = re.search(r"divergent (\d+)", summary)
        return {"exit": done.returncode, "in_step": done.returncode == 0,
                "divergent": int(found.group(1)) if found else None, "summary": summary,
                "details": [ln.strip() for ln in lines if ln.startswith("  ")][:20]}

    # ------------------------------------------------------------------ rounds

    async def baseline(self) -> Round:
        res = Round("baseline", 0)
        await self.full_pass(res, time.monotonic())
        return res

    async def round(self, kind: str, number: int) -> Round:
        opts = self.opts
        rng = random.Random(f"{opts.seed}:{kind}:{number}")
        res = Round(kind, number)
        self.writer.take_touched()
        restarts = self.procs.restarts()
        exits = len(self.procs.exits)
        commits = self.writer.stats.committed
        self.logs.take()
        stop = threading.Event()
        failure: list[BaseException] = []

        def write() -> None:
            try:
                self.writer.run(stop, bulk_at=rng.uniform(0.5, max(0.6, opts.write_s - 1)))
            except BaseException as exc:
                failure.append(exc)
        thread = threading.Thread(target=write, name="chaos-writer", daemon=True)
        started = time.monotonic()
        thread.start()
        try:
            await asyncio.sleep(rng.uniform(1.0, min(2.5, opts.write_s / 2)))
            ctx = FaultContext(self.root, self.procs, self.vars, self.client,
                               self.writer, self._outage_paths(rng), rng)
            rec = await inject(ctx, kind)
            visible = rec.outage_write_seen
            await asyncio.sleep(max(0.5, started + opts.write_s - time.monotonic()))
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, 180)
        if failure:
            res.errors.append(f"writer: {failure[0]!r}")
        t0 = max(rec.whole_at or time.monotonic(), time.monotonic())
        self._fault_fields(res, rec)
        touched = self.writer.take_touched()
        cars = touched.cars | await asyncio.to_thread(self.oracle.cars_showing, touched.refs)
        res.touched_cars, res.commits = len(cars), self.writer.stats.committed - commits
        deadline = t0 + opts.deadline_s
        res.converge_s, unconverged = await self.converge(cars, t0, deadline,
                                                          res.convergence_trace)
        if res.unconverged_at_deadline is None:
            res.unconverged_at_deadline = unconverged
        if visible is not None:
            res.outage_write_visible_s = await visible
        for task in rec.pending:
            await task
        res.beating_s = dict(rec.beating_s)
        await self.full_pass(res, deadline)
        self.procs.check()
        after = self.procs.restarts()
        res.restarts = {s: after.get(s, 0) - restarts.get(s, 0) for s in SERVICES
                        if after.get(s, 0) != restarts.get(s, 0)}
        self._exits(res, exits)
        res.log_errors, res.log_samples = self.logs.take()
        self._judge(res)
        return res

    def _outage_paths(self, rng: random.Random) -> list[str]:
        cars = rng.sample(self.writer.live, min(12, len(self.writer.live)))
        return [f"/listing/{c}/" for c in cars] + ["/listing/?page_size=5",
                                                   "/listing/?order_by=newest&page_size=5"]

    @staticmethod
    def _fault_fields(res: Round, rec: FaultRecord) -> None:
        res.whole_s = None if rec.whole_at is None else round(rec.whole_at - rec.injected_at, 2)
        res.killed = dict(rec.killed)
        res.stopped = dict(rec.stopped)
        res.back_s = {k: None if v is None else round(v, 2) for k, v in rec.back_s.items()}
        res.errors.extend(rec.errors)
        res.ready_after_s = rec.ready_after_s
        if rec.outage is not None:
            res.outage = {**asdict(rec.outage), "ok": rec.outage.ok}

    def _exits(self, res: Round, since: int) -> None:
        if self.procs.supervised:
            for name, count in res.restarts.items():
                extra = count - (1 if name in res.killed else 0)
                if extra > 0:
                    res.unexpected_exits.append(f"{name} x{extra}")
            return
        for ex in self.procs.exits[since:]:
            if not ex.expected:
                res.unexpected_exits.append(f"{ex.service} (pid {ex.pid})")

    def _judge(self, res: Round) -> None:
        if res.divergent:
            res.failures.append(f"{res.divergent} divergent cars")
        if res.count_mismatches:
            res.failures.append(f"{len(res.count_mismatches)} listing counts differ")
        if res.lost:
            res.failures.append(f"{res.lost} lost updates")
        if res.whole_s is None:
            res.failures.append("never whole again")
        if res.kind != "all" and (res.converge_s is None or res.converge_s > CONVERGE_LIMIT_S):
            res.failures.append("did not converge within 10 s"
                                + (f" (still wrong then: {res.unconverged_at_deadline})"
                                   if res.unconverged_at_deadline else ""))
        if res.unexpected_exits:
            res.failures.append("unexpected exits: " + ", ".join(res.unexpected_exits))
        for name, back in res.back_s.items():
            if name in SERVICES and (back is None or back > SERVICE_BACK_S):
                res.failures.append(f"{name} back after {back} s")
        if any(e.startswith("writer") for e in res.errors):
            res.failures.append("writer failed")
        if res.outage is not None:
            # Valkey frozen or restarted: the API answers within 1 s meanwhile (200 from its
            # in-process cache, or JSON 503 + Retry-After), is ready ≤ 10 s after Valkey is
            # back, and a write made during the outage is on its page ≤ 5 s after.
            if not res.outage["ok"]:
                res.failures.append(f"API during the outage: {res.outage['slow']} slow, "
                                    f"{res.outage['bad']} bad answers")
            if res.ready_after_s is None or res.ready_after_s > READY_LIMIT_S:
                res.failures.append(f"/readyz or /listing/ back after {res.ready_after_s} s")
            if res.outage_write_visible_s is None or \
                    res.outage_write_visible_s > OUTAGE_WRITE_LIMIT_S:
                res.failures.append(f"outage write visible after {res.outage_write_visible_s} s")


async def _run(opts: Options, root: Path) -> dict[str, Any]:
    log = opts.log
    started = time.monotonic()
    topology = "cluster" if opts.cluster else "standalone"
    log(f"chaos: seed {opts.seed}, {opts.cars} cars, {opts.rounds} round(s) of "
        f"{', '.join(opts.faults)}; {topology} Valkey; stack in {root}")
    # Explicit, so a STACK_VALKEY left in the environment cannot turn one variant into the other.
    env = await asyncio.to_thread(stack.up, root, opts.cars, True, lambda m: log(f"  {m}"),
                                  topology)
    harness = Harness(opts, env, root)
    monitor = asyncio.create_task(harness.monitor())
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seed": opts.seed,
        "valkey": topology,
        "cars": opts.cars, "rounds_per_kind": opts.rounds, "faults": list(opts.faults),
        "deadline_s": opts.deadline_s, "write_s": opts.write_s, "cpus": os.cpu_count(),
        "supervisor": harness.procs.supervised, "rounds": []}
    try:
        await asyncio.to_thread(harness.writer.prepare)
        harness.queries = await asyncio.to_thread(harness.oracle.listing_queries)
        base = await harness.baseline()
        result["baseline"] = asdict(base)
        log(f"baseline: {base.divergent} divergent, {len(base.count_mismatches)} count "
            "mismatches")
        for number in range(1, opts.rounds + 1):
            for kind in opts.faults:
                res = await harness.round(kind, number)
                res.carried_over = harness.dirty
                harness.dirty = bool(res.divergent or res.lost or res.count_mismatches
                                     or res.unexpected_exits)
                result["rounds"].append(asdict(res))
                log(f"round {number} {kind}: whole {res.whole_s} s, converged "
                    f"{res.converge_s and round(res.converge_s, 2)} s, {res.divergent} divergent, "
                    f"{res.lost} lost, {len(res.count_mismatches)} count mismatches, "
                    f"{res.commits} commits; " + ("; ".join(res.failures) or "ok"))
                if res.converge_s is None or res.converge_s > CONVERGE_LIMIT_S:
                    for poll in res.convergence_trace:
                        log(f"  poll {poll}")
        if opts.cluster:
            # The cluster variant also asks the project's reconcile, which reads the cache
            # through the worker's own cluster client (not through the API as the oracle does).
            result["reconcile"] = rec = await harness.reconcile()
            log(f"reconcile (exit {rec['exit']}): {rec['summary']}")
        result["supervisor"] = harness.procs.supervised
        result["writer"] = asdict(harness.writer.stats)
    finally:
        monitor.cancel()
        await harness.client.aclose()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def run(opts: Options) -> dict[str, Any]:
    """Run the whole chaos session; the stack is stopped whatever happens (Ctrl-C too)."""
    root = opts.root.resolve()
    stack.down(root)  # a previous run of ours that died hard
    shutil.rmtree(root, ignore_errors=True)  # a fresh catalogue: runs replay from the seed
    saved = os.environ.get("CARPAGES_TRAIN_ON_UP")
    os.environ["CARPAGES_TRAIN_ON_UP"] = "0"  # no trainer competing for the 2 cores
    try:
        return asyncio.run(_run(opts, root))
    finally:
        stopped = stack.down(root)
        opts.log(f"chaos: stopped {stopped} processes")
        if saved is None:
            os.environ.pop("CARPAGES_TRAIN_ON_UP", None)
        else:
            os.environ["CARPAGES_TRAIN_ON_UP"] = saved

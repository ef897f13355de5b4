"""Progress of long jobs: plain periodic lines off a terminal, a tqdm bar on one."""

from __future__ import annotations

import io

from carpages_shared.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_tty_first_periodic_and_last() -> None:
    out = io.StringIO()
    with Progress("seed", "rows", stream=out, every_s=3600) as progress:
        for done in range(0, 50_001, 5_000):
            progress(done, 50_000)
    lines = out.getvalue().splitlines()
    # The first call prints (the job started), the hour-long interval hides the middle ones,
    # the end prints.
    assert len(lines) == 2
    assert "/50.0k rows (0%)" in lines[0]
    assert lines[1].startswith("seed: 50.0k/50.0k rows (100%)")
    assert "rows/s]" in lines[1]
    assert "\r" not in out.getvalue()


def test_plain_lines_every_interval() -> None:
    out = io.StringIO()
    with Progress("reconcile", "cars", stream=out, every_s=0) as progress:
        for done in (100, 200, 300):
            progress(done, 300)
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "reconcile: 100/300 cars", "reconcile: 200/300 cars", "reconcile: 300/300 cars"]
    assert "<" in lines[0]  # elapsed<remaining: the ETA


def test_an_unfinished_job_prints_where_it_stopped() -> None:
    out = io.StringIO()
    with Progress("rebuild", "cars", stream=out, every_s=3600) as progress:
        progress(10, 100)
        progress(40, 100)
    assert out.getvalue().splitlines()[-1].startswith("rebuild: 40/100 cars (40%)")


def test_a_bar_with_rate_and_eta_on_a_terminal() -> None:
    out = Terminal()
    with Progress("bench", "runs", total=4, stream=out) as progress:
        for _ in range(4):
            progress.advance()
    text = out.getvalue()
    assert "\r" in text  # redrawn in place
    assert "4/4" in text
    assert "runs/s]" in text

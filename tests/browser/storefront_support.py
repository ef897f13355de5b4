"""The Next.js storefront as the tests and the benchmark run it: packages, a production build
kept while its sources are unchanged, `next start` processes, the API process, and a real
Chromium driven through playwright-core (driver.mjs)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from carpages_local import servers

REPO = Path(__file__).resolve().parents[2]
STOREFRONT = REPO / "examples" / "storefront"
DRIVER = Path(__file__).with_name("driver.mjs")
CHROMIUM = Path("/usr/bin/chromium")
HASH_FILE = STOREFRONT / ".next" / "carpages-source-hash"
BUILD_LOCK = Path("/tmp/carpages-storefront-build.lock")
BUILT_FROM = ("src", "package.json", "package-lock.json", "next.config.mjs", "tsconfig.json")
"""What a production build depends on; the build is redone only when their hash changes."""


def source_hash() -> str:
    """SHA-256 over the storefront's sources and manifests (names and bytes)."""
    digest = hashlib.sha256()
    for name in BUILT_FROM:
        root = STOREFRONT / name
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            if path.is_file():
                digest.update(str(path.relative_to(STOREFRONT)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def node_env(**extra: str) -> dict[str, str]:
    """The environment of every node process: production, no telemetry."""
    return {**os.environ, "NODE_ENV": "production", "NEXT_TELEMETRY_DISABLED": "1", **extra}


def ensure_packages() -> None:
    """`npm ci` when node_modules is missing or older than package-lock.json."""
    marker = STOREFRONT / "node_modules" / ".package-lock.json"
    lock = STOREFRONT / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=STOREFRONT, check=True,
                   stdin=subprocess.DEVNULL, env={**os.environ, "NEXT_TELEMETRY_DISABLED": "1"})


def ensure_build() -> bool:
    """A production build of the current sources; True when one had to be made."""
    ensure_packages()
    # Concurrent sessions (tests, bench, `make storefront`) must not build into .next at once.
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = source_hash()
        if HASH_FILE.exists() and HASH_FILE.read_text() == wanted:
            return False
        done = subprocess.run([str(STOREFRONT / "node_modules" / ".bin" / "next"), "build"],
                              cwd=STOREFRONT, env=node_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError("next build failed:\n"
                               + (done.stdout + done.stderr).decode(errors="replace")[-4000:])
        HASH_FILE.write_text(wanted)
        return True


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers: any HTTP status means the server is up
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not answering after {timeout:.0f}s:\n"
                                   + log.read_text(errors="replace")[-3000:]) from None
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started (its leader is `proc`), SIGKILL after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def process(argv: list[str], env: Mapping[str, str], log: Path, probe: str,
            cwd: Path = REPO, timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in its own process group until the block ends; wait for `probe` first."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        _wait_http(probe, proc, log, timeout)
        yield proc
    finally:
        _stop(proc)


@contextmanager
def running_api(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """`python -m carpages_api` on a free port with `env`; yields its base URL once ready."""
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "carpages_api", "--host", "127.0.0.1", "--port", str(port)]
    with process(argv, env, log, f"{url}/readyz"):
        yield url


@contextmanager
def running_storefront(api_url: str, log: Path, **extra: str) -> Iterator[str]:
    """`next start` of the production build against `api_url`; yields the storefront URL."""
    ensure_build()
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(STOREFRONT / "node_modules" / ".bin" / "next"), "start", "-H", "127.0.0.1",
            "-p", str(port)]
    with process(argv, node_env(API_URL=api_url, **extra), log, f"{url}/used-cars",
                 cwd=STOREFRONT):
        yield url


class Browser:
    """Chromium through driver.mjs: `goto`/`reload`/`click` answer the HTTP status, the page's
    final URL, the requested selectors' texts and data attributes, and navigation timing."""

    def __init__(self, log: Path) -> None:
        if not CHROMIUM.exists():
            raise RuntimeError(f"{CHROMIUM} is missing: `make install` (apt-get install "
                               "-y chromium, as root) installs it")
        ensure_packages()
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("ab")
        self._proc = subprocess.Popen(
            ["node", str(DRIVER)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, env=node_env(STOREFRONT_DIR=str(STOREFRONT),
                                           CHROMIUM=str(CHROMIUM)), start_new_session=True)

    def command(self, **cmd: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"browser driver exited ({self._proc.poll()}); see {self._log.name}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(answer["error"])
        return answer

    def goto(self, url: str, **kw: Any) -> dict[str, Any]:
        return self.command(op="goto", url=url, **kw)

    def reload(self, **kw: Any) -> dict[str, Any]:
        return self.command(op="reload", **kw)

    def click(self, selector: str, **kw: Any) -> dict[str, Any]:
        return self.command(op="click", selector=selector, **kw)

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            _stop(self._proc)
        self._log.close()


@contextmanager
def browser(log: Path) -> Iterator[Browser]:
    """A Browser, closed (and its Chromium with it) when the block ends."""
    found = Browser(log)
    try:
        yield found
    finally:
        found.close()

"""The container images, checked without a Docker engine: hadolint, plus a parse of each
Dockerfile proving it copies only its own service and installs only its own package."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
SHARED = frozenset({"uv.lock", "pyproject.toml", "shared/pyproject.toml", "shared/carpages_shared"})
SERVICE_DIRS = ("services/api", "services/cdc_worker", "services/reco")


@dataclass(frozen=True)
class ImageSpec:
    dockerfile: str
    package: str
    service_dir: str
    module: str
    foreign: frozenset[str]
    """Distributions that must not be in this image (another service's heavy dependencies)."""

    @property
    def context_files(self) -> frozenset[str]:
        return SHARED | {f"{self.service_dir}/pyproject.toml", f"{self.service_dir}/{self.module}"}


IMAGES = {
    "api": ImageSpec("api.Dockerfile", "carpages-api", "services/api", "carpages_api",
                     frozenset({"scipy", "rectools-lightfm", "aiokafka", "mysql-replication"})),
    "cdc-worker": ImageSpec("cdc-worker.Dockerfile", "carpages-cdc-worker",
                            "services/cdc_worker", "carpages_cdc",
                            frozenset({"fastapi", "uvicorn", "scipy", "rectools-lightfm"})),
    "reco": ImageSpec("reco.Dockerfile", "carpages-reco", "services/reco", "carpages_reco",
                      frozenset({"fastapi", "uvicorn", "aiokafka", "mysql-replication"})),
}


@dataclass
class Instruction:
    keyword: str
    flags: dict[str, str]
    args: str


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def logical_lines(text: str) -> list[str]:
    """Instructions with continuations joined and comment lines dropped, as Docker reads them."""
    lines, buffer = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        buffer += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(buffer.strip())
            buffer = ""
    assert not buffer, "dangling line continuation"
    return lines


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile, each with its instructions and their `--flag=value`s."""
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        flags: dict[str, str] = {}
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags.setdefault(name, value)  # repeated flags (--mount) are not inspected
            rest = rest.strip()
        if keyword.upper() == "FROM":
            base, *alias = rest.split()
            stages.append(Stage(base, alias[-1] if alias else str(len(stages))))
        else:
            stages[-1].instructions.append(Instruction(keyword.upper(), flags, rest))
    return stages


@pytest.fixture(scope="module", params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[ImageSpec, list[Stage], str]:
    spec = IMAGES[request.param]
    text = (DOCKER / spec.dockerfile).read_text()
    return spec, parse(text), text


def test_hadolint_finds_nothing(image: tuple[ImageSpec, list[Stage], str]) -> None:
    spec, _, _ = image
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or "hadolint"
    done = subprocess.run([hadolint, "--no-color", "--failure-threshold", "style",
                           str(DOCKER / spec.dockerfile)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_justified_hadolint_ignores(image: tuple[ImageSpec, list[Stage], str]) -> None:
    _, _, text = image
    ignored = set(re.findall(r"#\s*hadolint ignore=([\w,]+)", text))
    # DL3008 (apt version pins) only: the pinned bookworm base fixes the Debian release.
    assert ignored <= {"DL3008"}


def test_copies_only_its_own_service(image: tuple[ImageSpec, list[Stage], str]) -> None:
    spec, stages, _ = image
    sources: set[str] = set()
    for stage in stages:
        for copy in stage.all("COPY"):
            if "from" not in copy.flags:
                *srcs, _dest = shlex.split(copy.args)
                sources.update(s.rstrip("/") for s in srcs)
    assert sources == spec.context_files
    for other in SERVICE_DIRS:
        if other != spec.service_dir:
            assert not [s for s in sources if s.startswith(other)], other
    for stage in stages:
        assert not stage.all("ADD"), "ADD fetches or unpacks implicitly; COPY is explicit"


def test_installs_only_its_own_package_from_the_lock(
        image: tuple[ImageSpec, list[Stage], str]) -> None:
    spec, stages, _ = image
    syncs = [i.args for s in stages for i in s.all("RUN") if "uv sync" in i.args]
    assert len(syncs) == 2, "a dependency layer, then the service's own code"
    for command in syncs:
        words = command.split()
        assert {"--frozen", "--no-dev"} <= set(words)
        assert words[words.index("--package") + 1] == spec.package
    assert "--no-install-workspace" in syncs[0].split()
    assert "--no-editable" in syncs[1].split(), "the runtime stage must need no sources"


def test_runtime_stage_is_slim_non_root_and_healthchecked(
        image: tuple[ImageSpec, list[Stage], str]) -> None:
    _, stages, _ = image
    runtime, build_names = stages[-1], {s.name for s in stages[:-1]}
    copies = runtime.all("COPY")
    assert copies
    assert all(c.flags.get("from") in build_names for c in copies)
    assert all(c.args.split()[0] == "/app/.venv" for c in copies), "only the venv"
    users = runtime.all("USER")
    assert users
    assert users[-1].args.split(":")[0] not in ("0", "root")
    assert re.fullmatch(r"\d+(:\d+)?", users[-1].args), "numeric uid for runAsNonRoot"
    checks = runtime.all("HEALTHCHECK")
    assert len(checks) == 1
    assert re.match(r"CMD \[", checks[0].args), "exec form, after the --options"
    assert runtime.all("ENTRYPOINT")
    installs = " ".join(i.args for i in runtime.all("RUN"))
    assert not re.search(r"\b(gcc|build-essential|g\+\+|clang)\b", installs)


def test_base_images_are_pinned_and_match_the_project(
        image: tuple[ImageSpec, list[Stage], str]) -> None:
    spec, stages, _ = image
    python_bases = {s.base for s in stages if s.base.startswith("python:")}
    assert len(python_bases) == 1
    (base,) = python_bases
    match = re.fullmatch(r"python:(3\.\d+)\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base)
    assert match, base
    manifest = tomllib.loads((ROOT / spec.service_dir / "pyproject.toml").read_text())
    assert f">={match.group(1)}" in manifest["project"]["requires-python"]
    uv_bases = [s.base for s in stages if s.base.startswith("ghcr.io/astral-sh/uv:")]
    make_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert make_uv
    assert uv_bases == [f"ghcr.io/astral-sh/uv:{make_uv.group(1)}"]


def test_only_the_trainer_builds_with_a_compiler(
        image: tuple[ImageSpec, list[Stage], str]) -> None:
    spec, stages, _ = image
    installs = " ".join(i.args for s in stages for i in s.all("RUN") if "apt-get" in i.args)
    assert bool(re.search(r"\bgcc\b", installs)) == (spec.package == "carpages-reco")


def lock_closure(package: str) -> set[str]:
    """Every distribution uv.lock installs for `package` (with requested extras, no dev)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    by_name = {p["name"]: p for p in lock["package"]}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(package, ())]
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        name, extras = item
        entry = by_name[name]
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps += entry.get("optional-dependencies", {}).get(extra, [])
        todo.extend((d["name"], tuple(d.get("extra", ()))) for d in deps)
    return {name for name, _ in seen}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_locked_dependencies_leave_out_other_services(name: str) -> None:
    spec = IMAGES[name]
    closure = lock_closure(spec.package)
    assert "carpages-shared" in closure
    assert not closure & spec.foreign
    others = {s.package for s in IMAGES.values()} - {spec.package}
    assert not closure & others


def local_argv(exec_form: list[str]) -> list[str]:
    """An image's exec-form command, pointed at this virtualenv's interpreter and scripts."""
    program, *rest = exec_form
    if program == "python":
        return [sys.executable, *rest]
    return [str(Path(sys.executable).parent / program), *rest]


def test_default_command_is_accepted_by_the_service(
        image: tuple[ImageSpec, list[Stage], str]) -> None:
    _, stages, _ = image
    runtime = stages[-1]
    entrypoint = json.loads(runtime.all("ENTRYPOINT")[-1].args)
    command = json.loads(runtime.all("CMD")[-1].args)
    env = {**os.environ, "MYSQL_URL": "mysql://u:p@127.0.0.1:1/x",
           "VALKEY_URL": "valkey://127.0.0.1:1/0", "API_JWT_SECRET": "test"}
    done = subprocess.run([*local_argv(entrypoint + command), "--help"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_trainer_healthcheck_imports_the_compiled_extension() -> None:
    runtime = parse((DOCKER / IMAGES["reco"].dockerfile).read_text())[-1]
    exec_form = re.split(r"(?:^|\s)CMD\s", runtime.all("HEALTHCHECK")[0].args, maxsplit=1)[1]
    done = subprocess.run(local_argv(json.loads(exec_form)), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr

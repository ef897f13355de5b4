"""Lookups over rendered Kubernetes objects for the manifest tests (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from tests.unit.kustomize_subset import Obj, split_image


def pods(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod template) for every Deployment and CronJob."""
    for obj in objects:
        if obj["kind"] == "Deployment":
            yield obj, obj["spec"]["template"]
        elif obj["kind"] == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    """The one object of this kind and name."""
    (obj,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def image_name(container: Obj) -> str:
    """A container image's last path part without tag or digest (`carpages-api`)."""
    return split_image(container["image"])[0].rsplit("/", 1)[-1]


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a label selector's matchLabels pick pods with these labels."""
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def quantity(value: str | int) -> float:
    """A CPU or memory quantity as a number (cores or bytes)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


def settings_env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """Every environment name a settings class reads -> its field (aliases replace the prefix)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = {}
    for field, info in cls.model_fields.items():
        alias = info.validation_alias or info.alias
        if alias is None:
            choices = [prefix + field]
        elif isinstance(alias, AliasChoices):
            choices = [c for c in alias.choices if isinstance(c, str)]
        else:
            choices = [alias] if isinstance(alias, str) else []
        names.update({choice.upper(): field for choice in choices})
    return names


def container_env(container: Obj, objects: list[Obj]) -> list[str]:
    """Names a container's environment gets from `env` and from `envFrom` ConfigMaps."""
    names = [e["name"] for e in container.get("env", [])]
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, "envFrom only from ConfigMaps (no secretRef)"
        names += list(find(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    return names

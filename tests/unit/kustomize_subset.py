"""Offline renderer for the part of kustomize that deploy/k8s uses (there is no kustomize here).

Supported: `resources` (YAML files, multi-document, or directories holding a kustomization),
`namespace`, `images` (newName / newTag / digest) and `patches`, each either a strategic-merge
patch (a mapping; target taken from its kind and name) or a JSON6902 list with a `target`,
given inline (`patch:`) or as a file (`path:`). Anything else raises UnsupportedKustomization,
so the manifests cannot drift into features this renderer would get wrong. The real command is
`kubectl kustomize deploy/k8s/overlays/<name>`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KUSTOMIZATION_KEYS = frozenset({"apiVersion", "kind", "resources", "namespace", "images",
                                "patches"})
PATCH_KEYS = frozenset({"path", "patch", "target"})
TARGET_KEYS = frozenset({"kind", "name", "group", "version"})
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
                            "StorageClass", "CustomResourceDefinition", "PersistentVolume"})
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "imagePullSecrets": "name"}
"""List fields merged item by item in a strategic-merge patch (the API's patchMergeKey)."""
ATOMIC_LISTS = frozenset({"args", "command"})
"""List fields a strategic-merge patch replaces whole. Other lists are refused: their real merge
rule (a merge key we do not model) could differ from what this renderer would do."""


class UnsupportedKustomization(ValueError):
    """The kustomization uses a feature outside the supported subset."""


def render(directory: Path) -> list[Obj]:
    """Render the kustomization in `directory` into a list of Kubernetes objects."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: unsupported fields {sorted(unknown)}")
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects.extend(render(path) if path.is_dir() else load_documents(path))
    check_unique(objects)
    for patch in kustomization.get("patches", []):
        apply_patch(objects, patch, directory)
    for image in kustomization.get("images", []):
        set_image(objects, image)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


def load_documents(path: Path) -> list[Obj]:
    """The non-empty YAML documents of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def object_id(obj: Obj) -> tuple[str, str]:
    """(kind, name): how patches and duplicate checks identify an object."""
    return obj["kind"], obj["metadata"]["name"]


def check_unique(objects: list[Obj]) -> None:
    """Raise on two objects with the same kind and name (kustomize refuses them too)."""
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        if object_id(obj) in seen:
            raise UnsupportedKustomization(f"duplicate resource {object_id(obj)}")
        seen.add(object_id(obj))


def apply_patch(objects: list[Obj], entry: Obj, directory: Path) -> None:
    """Apply one `patches` entry to the objects it targets."""
    if set(entry) - PATCH_KEYS or ("path" in entry) == ("patch" in entry):
        raise UnsupportedKustomization(f"patch entry {entry}")
    text = (directory / entry["path"]).read_text() if "path" in entry else entry["patch"]
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    if len(documents) != 1:
        raise UnsupportedKustomization("one patch per entry")
    body = documents[0]
    target = entry.get("target") or (
        {"kind": body["kind"], "name": body["metadata"]["name"]} if isinstance(body, dict)
        else None)
    if target is None or set(target) - TARGET_KEYS:
        raise UnsupportedKustomization(f"patch target {target}")
    matched = [obj for obj in objects if matches(obj, target)]
    if not matched:
        raise UnsupportedKustomization(f"patch target {target} matches nothing")
    for obj in matched:
        patched = (json6902(obj, body) if isinstance(body, list)
                   else strategic_merge(obj, body, ""))
        obj.clear()
        obj.update(patched)


def matches(obj: Obj, target: Obj) -> bool:
    """Whether an object is selected by a patch target (kind, name, group, version)."""
    group, _, version = obj["apiVersion"].rpartition("/")
    return (target.get("kind", obj["kind"]) == obj["kind"]
            and target.get("name", obj["metadata"]["name"]) == obj["metadata"]["name"]
            and target.get("group", group) == group
            and target.get("version", version) == version)


def strategic_merge(base: Any, patch: Any, field: str) -> Any:
    """Merge `patch` into `base` with the strategic-merge rules of the fields we model."""
    if isinstance(patch, dict) and isinstance(base, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(patch, list):
        if field in ATOMIC_LISTS:
            return copy.deepcopy(patch)
        if field not in MERGE_KEYS or not isinstance(base, list):
            raise UnsupportedKustomization(f"strategic merge of list field {field!r}")
        key = MERGE_KEYS[field]
        merged_list = copy.deepcopy(base)
        for item in patch:
            index = next((i for i, old in enumerate(merged_list) if old.get(key) == item[key]),
                         None)
            if index is None:
                merged_list.append(copy.deepcopy(item))
            else:
                merged_list[index] = strategic_merge(merged_list[index], item, "")
        return merged_list
    return copy.deepcopy(patch)


def json6902(obj: Obj, operations: list[Obj]) -> Obj:
    """Apply JSON6902 operations (add, replace, remove, test) to a copy of an object."""
    doc = copy.deepcopy(obj)
    for op in operations:
        *parents, last = [part.replace("~1", "/").replace("~0", "~")
                          for part in op["path"].lstrip("/").split("/")]
        container: Any = doc
        for part in parents:
            container = container[int(part)] if isinstance(container, list) else container[part]
        kind = op["op"]
        if isinstance(container, list):
            index = len(container) if last == "-" else int(last)
            if kind == "add":
                container.insert(index, copy.deepcopy(op["value"]))
                continue
            if kind != "test" and not 0 <= index < len(container):
                raise IndexError(f"{op['path']} out of range")
        elif kind in ("replace", "remove", "test") and last not in container:
            raise KeyError(f"{op['path']} does not exist")
        key: Any = index if isinstance(container, list) else last
        if kind in ("add", "replace"):
            container[key] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del container[key]
        elif kind == "test":
            if container[key] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        else:
            raise UnsupportedKustomization(f"JSON6902 op {kind!r}")
    return doc


def split_image(image: str) -> tuple[str, str]:
    """`name[:tag][@digest]` -> (name, the rest including its `:` or `@`)."""
    name, at, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon:] + at + digest
    return name, at + digest


def set_image(objects: list[Obj], rule: Obj) -> None:
    """The `images` transformer: rename and retag every container image called `rule.name`."""
    for container in containers(objects):
        name, suffix = split_image(container["image"])
        if name != rule["name"]:
            continue
        if "digest" in rule:
            suffix = "@" + rule["digest"]
        elif "newTag" in rule:
            suffix = ":" + str(rule["newTag"])
        container["image"] = rule.get("newName", name) + suffix


def containers(node: Any) -> list[Obj]:
    """Every container and init container found anywhere under `node`."""
    found: list[Obj] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found.extend(value)
            else:
                found.extend(containers(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(containers(item))
    return found

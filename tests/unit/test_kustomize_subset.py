"""The offline kustomize subset the manifest tests rely on: it must do what kustomize does for
the features it accepts, and refuse the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.kustomize_subset import UnsupportedKustomization, json6902, render, split_image

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "app", "image": "app:1.0", "args": ["a", "b"], "ports": [{"containerPort": 80}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "side", "image": "registry.local:5000/side:2"},
    ]}}},
}


def write(directory: Path, kustomization: dict[str, object], **files: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    for name, content in files.items():
        (directory / name).write_text(yaml.safe_dump(content))
    return directory


def base(tmp_path: Path) -> Path:
    return write(tmp_path / "base", {"namespace": "ns", "resources": ["web.yaml"]},
                 **{"web.yaml": DEPLOYMENT})


def test_strategic_merge_merges_containers_and_env_by_name(tmp_path: Path) -> None:
    base(tmp_path)
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"template": {"spec": {"containers": [
                 {"name": "app", "args": ["c"], "env": [{"name": "B", "value": "3"},
                                                        {"name": "C", "value": "4"}]}]}}}}
    overlay = write(tmp_path / "overlay", {"resources": ["../base"],
                                           "patches": [{"path": "p.yaml"}]}, **{"p.yaml": patch})
    (web,) = render(overlay)
    app, side = web["spec"]["template"]["spec"]["containers"]
    assert app["image"] == "app:1.0"
    assert app["args"] == ["c"]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"},
                          {"name": "C", "value": "4"}]
    assert side["name"] == "side"
    assert web["metadata"]["namespace"] == "ns"


def test_json6902_and_images(tmp_path: Path) -> None:
    base(tmp_path)
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5},
           {"op": "remove", "path": "/spec/template/spec/containers/0/args"},
           {"op": "add", "path": "/metadata/labels", "value": {"tier": "web"}}]
    overlay = write(tmp_path / "overlay", {
        "resources": ["../base"],
        "patches": [{"target": {"kind": "Deployment", "name": "web"},
                     "patch": yaml.safe_dump(ops)}],
        "images": [{"name": "app", "newName": "reg.io/team/app", "newTag": "2.0"},
                   {"name": "registry.local:5000/side", "digest": "sha256:" + "a" * 64}]})
    (web,) = render(overlay)
    assert web["spec"]["replicas"] == 5
    assert web["metadata"]["labels"] == {"tier": "web"}
    app, side = web["spec"]["template"]["spec"]["containers"]
    assert "args" not in app
    assert app["image"] == "reg.io/team/app:2.0"
    assert side["image"] == "registry.local:5000/side@sha256:" + "a" * 64


def test_json6902_refuses_missing_paths_and_failed_tests() -> None:
    with pytest.raises(KeyError):
        json6902(DEPLOYMENT, [{"op": "replace", "path": "/spec/nope", "value": 1}])
    with pytest.raises(ValueError, match="test failed"):
        json6902(DEPLOYMENT, [{"op": "test", "path": "/spec/replicas", "value": 3}])


def test_split_image_keeps_registry_ports() -> None:
    assert split_image("registry.local:5000/side:2") == ("registry.local:5000/side", ":2")
    assert split_image("app") == ("app", "")


@pytest.mark.parametrize("kustomization", [
    {"resources": ["../base"], "commonLabels": {"a": "b"}},
    {"resources": ["../base"], "namePrefix": "x-"},
    {"resources": ["../base"], "patches": [{"target": {"kind": "Service", "name": "web"},
                                            "patch": "- {op: remove, path: /spec}"}]},
])
def test_unsupported_or_unmatched_features_are_refused(
        tmp_path: Path, kustomization: dict[str, object]) -> None:
    base(tmp_path)
    with pytest.raises(UnsupportedKustomization):
        render(write(tmp_path / "overlay", kustomization))


def test_strategic_merge_of_an_unmodelled_list_is_refused(tmp_path: Path) -> None:
    base(tmp_path)
    # `ports` merges by containerPort in real kustomize; the subset does not model it.
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"template": {"spec": {"containers": [
                 {"name": "app", "ports": [{"containerPort": 81}]}]}}}}
    overlay = write(tmp_path / "overlay", {"resources": ["../base"],
                                           "patches": [{"path": "p.yaml"}]}, **{"p.yaml": patch})
    with pytest.raises(UnsupportedKustomization, match="ports"):
        render(overlay)

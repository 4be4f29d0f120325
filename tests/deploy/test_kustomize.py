"""k8s/ built by the real kustomize (the one inside kubectl): it must build, expand the YAML anchors as the tests
read them, and let one `images:` entry per image move every trainworks container to a registry."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.files import K8S, k8s_documents

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) is not installed")


def kustomize(folder: Path) -> list[dict]:
    result = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def key(doc: dict) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def test_kustomize_builds_exactly_the_objects_the_tests_check() -> None:
    built = {key(doc): doc for doc in kustomize(K8S)}
    ours = {key(doc): doc for _, doc in k8s_documents()}
    assert sorted(built) == sorted(ours)
    for name, doc in ours.items():
        assert built[name] == doc, name  # same anchors expanded, same namespace, nothing added


def test_one_images_entry_per_image_moves_every_trainworks_container(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(K8S, tmp_path)],  # an overlay on k8s/, as a user's would be
        "images": [{"name": "trainworks", "newName": "registry.test/trainworks", "newTag": "1.2.3"},
                   {"name": "trainworks-cuda", "newName": "registry.test/trainworks-cuda", "newTag": "1.2.3"}]}))
    images = [line.split("image:", 1)[1].strip() for doc in kustomize(tmp_path)
              for line in yaml.safe_dump(doc).splitlines() if line.strip().startswith("image:")]
    trainworks = [image for image in images if "trainworks" in image]
    assert len(trainworks) == 6  # mlflow, mlflow-account, ray head, cpu and gpu workers, the RayJob submitter
    assert all(image.startswith("registry.test/trainworks") and image.endswith(":1.2.3") for image in trainworks)
    assert "registry.test/trainworks-cuda:1.2.3" in trainworks

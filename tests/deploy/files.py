"""The deploy/ and k8s/ files, read the way their tools read them, plus the vendored schemas (see schemas/README.md)."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Iterator, Mapping

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = ROOT / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

KUBERNETES_VERSION = "1.33.0"  # the Kubernetes schemas kubernetes-validate ships for this version
KUBERAY_KINDS = ("RayCluster", "RayJob")
NOT_APPLIED = {"kustomization.yaml", "secret.example.yaml"}  # in k8s/, but not resources to apply

# Names of settings that hold secrets (passwords, tokens, secret keys).
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)


def compose() -> dict[str, Any]:
    """deploy/docker-compose.yml as Compose loads it before interpolation (anchors and merge keys resolved)."""
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def compose_values(node: Any = None) -> list[str]:
    """Every string value in the compose file: what Compose interpolates (not keys, not comments)."""
    node = compose() if node is None else node
    if isinstance(node, dict):
        return [text for value in node.values() for text in compose_values(value)]
    if isinstance(node, list):
        return [text for value in node for text in compose_values(value)]
    return [node] if isinstance(node, str) else []


@cache
def compose_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema (vendored)."""
    return json.loads((SCHEMAS / "compose-spec.json").read_text())


def env_example() -> dict[str, str]:
    """deploy/.env.example as NAME -> value (comments and blank lines dropped)."""
    pairs = (line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


_REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(KeyError):
    """A `${VAR:?message}` (or `${VAR?message}`) whose variable is not set."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: `$$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in ("-", ":-") and unset:
            return arg
        if op in ("?", ":?") and unset:
            raise MissingVariable(name)
        return value or ""

    return _REFERENCE.sub(replace, text)


def references(values: list[str]) -> set[str]:
    """Every variable name the values refer to with `${...}`."""
    return {m.group("name") for text in values for m in _REFERENCE.finditer(text) if m.group("name")}


def required_references(values: list[str]) -> set[str]:
    """Variables referenced with `:?` / `?`: Compose refuses to start without them."""
    return {m.group("name") for text in values for m in _REFERENCE.finditer(text)
            if (m.group("op") or "").endswith("?")}


def k8s_documents(*, applied_only: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every object in k8s/*.yaml (by default only what kustomization applies)."""
    skip = NOT_APPLIED if applied_only else {"kustomization.yaml"}
    return [(path.name, doc) for path in sorted(K8S.glob("*.yaml")) if path.name not in skip
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_objects(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_documents() if doc["kind"] == kind]


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def example_secrets() -> dict[str, dict[str, str]]:
    """k8s/secret.example.yaml as Secret name -> its stringData."""
    docs = yaml.safe_load_all((K8S / "secret.example.yaml").read_text())
    return {doc["metadata"]["name"]: doc.get("stringData", {}) for doc in docs if doc}


@cache
def _kubernetes_definitions() -> Registry:
    """The Kubernetes object definitions (strict: unknown fields rejected) as a schema registry."""
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict/_definitions.json"
    definitions = json.loads(files("kubernetes_validate").joinpath(folder).read_text())
    return Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))


@cache
def kuberay_validator(kind: str) -> jsonschema.Draft202012Validator:
    """A validator for a KubeRay kind: the vendored KubeRay schema, its pod templates checked as Kubernetes types."""
    schema = json.loads((SCHEMAS / f"kuberay-v1.6-{kind.lower()}.json").read_text())
    return jsonschema.Draft202012Validator(schema, registry=_kubernetes_definitions())


def validate_k8s(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `doc` does not fit its kind's schema."""
    if doc["kind"] in KUBERAY_KINDS:
        kuberay_validator(doc["kind"]).validate(doc)
        return
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(where, pod spec, pod labels) of every pod a manifest makes, with the labels KubeRay adds to Ray pods."""
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "Job"):
        template = spec["template"]
        yield doc["metadata"]["name"], template["spec"], template["metadata"].get("labels", {})
    elif kind == "RayCluster":
        cluster = {"ray.io/cluster": doc["metadata"]["name"]}
        head = spec["headGroupSpec"]["template"]
        yield "ray head", head["spec"], {**head["metadata"]["labels"], **cluster, "ray.io/node-type": "head"}
        for group in spec.get("workerGroupSpecs", []):
            labels = {**group["template"]["metadata"]["labels"], **cluster, "ray.io/node-type": "worker",
                      "ray.io/group": group["groupName"]}
            yield f"ray worker group {group['groupName']}", group["template"]["spec"], labels
    elif kind == "RayJob" and "submitterPodTemplate" in spec:
        template = spec["submitterPodTemplate"]
        yield "ray job submitter", template["spec"], template["metadata"].get("labels", {})


def all_pods() -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    return [pod for _, doc in k8s_documents() for pod in pod_specs(doc)]


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]

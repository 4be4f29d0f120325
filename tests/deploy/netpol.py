"""Kubernetes NetworkPolicy ingress semantics, small enough to read: may pod A open port P on pod B?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass(frozen=True)
class Pod:
    """A pod as a NetworkPolicy sees it: its labels, its namespace and that namespace's labels."""

    labels: dict[str, str]
    namespace: str = "trainworks"
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Kubernetes labels every namespace with its own name.
        self.namespace_labels.setdefault("kubernetes.io/metadata.name", self.namespace)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against a label set; {} selects everything."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {"In": present and labels[key] in values, "NotIn": not present or labels[key] not in values,
                "Exists": present, "DoesNotExist": not present}[operator]:
            return False
    return True


def _peer_admits(peer: dict[str, Any], source: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # pod-to-pod traffic is judged by selectors here
    namespaces = peer.get("namespaceSelector")
    in_namespace = (source.namespace == policy_namespace if namespaces is None
                    else selects(namespaces, source.namespace_labels))
    pods = peer.get("podSelector")
    return in_namespace and (pods is None or selects(pods, source.labels))


def _port_admits(ports: list[dict[str, Any]] | None, port: int) -> bool:
    return not ports or any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports)


def ingress_allowed(policies: Iterable[dict[str, Any]], target: Pod, source: Pod, port: int) -> bool:
    """Whether `source` may connect to `target` on TCP `port`.

    Open unless a policy selects the target; then only what one of those policies allows.
    """
    isolating = [p for p in policies
                 if p["metadata"]["namespace"] == target.namespace
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and selects(p["spec"]["podSelector"], target.labels)]
    if not isolating:
        return True
    return any((not rule.get("from") or any(_peer_admits(peer, source, policy["metadata"]["namespace"])
                                           for peer in rule["from"]))
               and _port_admits(rule.get("ports"), port)
               for policy in isolating for rule in policy["spec"].get("ingress") or [])

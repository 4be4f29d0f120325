"""Reaching Ray: stale "current cluster" files are cleared, unreachable addresses fail fast."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from trainworks.runtime.cluster import RayUnreachable, _forget_dead_current_cluster, _probe


def current_cluster_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str) -> Path:
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    path = tmp_path / "ray" / "ray_current_cluster"
    path.parent.mkdir()
    path.write_text(address)
    return path


def test_a_file_naming_a_dead_head_is_removed_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    path = current_cluster_file(tmp_path, monkeypatch, dead)
    warnings: list[str] = []
    _forget_dead_current_cluster(warnings.append)
    assert not path.exists() and dead in warnings[0]


def test_a_file_naming_a_live_head_is_kept(tmp_path: Path, monkeypatch) -> None:
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen()
        path = current_cluster_file(tmp_path, monkeypatch, f"127.0.0.1:{live.getsockname()[1]}")
        warnings: list[str] = []
        _forget_dead_current_cluster(warnings.append)
    assert path.exists() and warnings == []


def test_probe_refuses_a_closed_port_and_leaves_other_address_forms_to_ray() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RayUnreachable, match=f"127.0.0.1:{port}: nothing answers"):
        _probe(f"ray://127.0.0.1:{port}", timeout=1)
    _probe("auto")  # no exception: Ray resolves it

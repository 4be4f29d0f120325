"""The metric buffer: put() never waits, an outage delays points without losing or reordering them."""

from __future__ import annotations

import threading
import time

from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

from trainworks.tracking import metric_buffer
from trainworks.tracking.metric_buffer import MetricBuffer, server_answers


class Server:
    """Stands in for the tracking server: up or down, and what it stored, in order."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.stored: list[tuple[str, int]] = []

    def send(self, run_id: str, points: list[Metric]) -> None:
        if not self.up.is_set():
            raise MlflowException("connection refused")
        self.stored.extend((run_id, point.step) for point in points)


def points(step: int) -> list[Metric]:
    return [Metric("loss", 1.0 / step, 0, step)]


def test_points_queued_while_the_server_is_down_arrive_once_and_in_order_when_it_returns(monkeypatch) -> None:
    monkeypatch.setattr(metric_buffer, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(metric_buffer, "RETRY_MAX_S", 0.05)
    server = Server()
    buffer = MetricBuffer(server.send)
    began = time.perf_counter()
    for step in range(1, 51):
        buffer.put("run", points(step))
    assert time.perf_counter() - began < 0.5  # nothing waited on the dead server
    assert buffer.flush(timeout=0.3) is False and buffer.pending() == 50 and buffer.retries > 0
    server.up.set()
    assert buffer.flush(timeout=10)
    assert server.stored == [("run", step) for step in range(1, 51)]
    assert buffer.pending() == 0 and buffer.dropped == 0


def test_an_unreachable_server_is_not_even_called(monkeypatch) -> None:
    monkeypatch.setattr(metric_buffer, "RETRY_FIRST_S", 0.01)
    server, reachable = Server(), threading.Event()
    server.up.set()
    buffer = MetricBuffer(server.send, reachable.is_set)
    buffer.put("run", points(1))
    assert buffer.flush(timeout=0.2) is False and server.stored == []
    reachable.set()
    assert buffer.flush(timeout=10) and server.stored == [("run", 1)]


def test_a_permanent_refusal_is_dropped_and_counted_instead_of_blocking_later_points() -> None:
    stored = []

    def send(run_id: str, batch: list[Metric]) -> None:
        if run_id == "deleted":
            raise MlflowException("no such run", error_code=RESOURCE_DOES_NOT_EXIST)
        stored.append(run_id)

    buffer = MetricBuffer(send)
    buffer.put("deleted", points(1))
    buffer.put("live", points(1))
    assert buffer.flush(timeout=10)
    assert stored == ["live"] and buffer.dropped == 1


def test_local_stores_always_answer_and_a_closed_port_does_not() -> None:
    from tests.reliability.common import free_port

    assert server_answers("sqlite:///somewhere.db")
    assert not server_answers(f"http://127.0.0.1:{free_port()}", timeout=0.5)

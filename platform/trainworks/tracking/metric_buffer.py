"""Metric points queued in memory and sent by one background thread, so that training never waits on the
tracking server, and an unreachable server delays points instead of losing them (they are replayed in order)."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import urllib.request
from collections import deque
from typing import Any, Callable

from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

LOG = logging.getLogger(__name__)
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
SEND_TIMEOUT_S = 10.0
LOG_BATCH_ENDPOINT = "/api/2.0/mlflow/runs/log-batch"
EXIT_FLUSH_S = 60.0
# Refusals that a retry cannot change: the batch is dropped (and counted) instead of blocking all later points.
PERMANENT_ERRORS = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST", "INVALID_STATE",
                    "PERMISSION_DENIED", "UNAUTHENTICATED"}

Send = Callable[[str, list[Metric]], None]


def server_answers(uri: str, timeout: float = 2.0) -> bool:
    """Whether an http(s) tracking server answers its /health page (always True for local stores)."""
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def single_attempt_sender(client: Any) -> Send:
    """log_batch without MLflow's own retries (up to minutes of backoff per request, which would hide a server's
    return from the buffer); a local store gets the client's plain log_batch."""
    from mlflow.protos.service_pb2 import LogBatch
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.proto_json_utils import message_to_json
    from mlflow.utils.rest_utils import http_request_safe

    store = client._tracking_client.store  # the REST store the client itself uses (its URI and credentials)
    if not isinstance(store, RestStore):
        return lambda run_id, points: client.log_batch(run_id, metrics=points)

    def send(run_id: str, points: list[Metric]) -> None:
        body = message_to_json(LogBatch(run_id=run_id, metrics=[point.to_proto() for point in points]))
        http_request_safe(store.get_host_creds(), LOG_BATCH_ENDPOINT, "POST", json=json.loads(body), max_retries=0,
                          timeout=SEND_TIMEOUT_S)

    return send


def is_permanent(error: Exception) -> bool:
    """A refusal no retry can fix (bad value, deleted run, no permission), as opposed to an outage."""
    return isinstance(error, MlflowException) and error.error_code in PERMANENT_ERRORS


class MetricBuffer:
    """A FIFO of (run id, points) that one daemon thread sends; a batch leaves the queue only once sent."""

    def __init__(self, send: Send, reachable: Callable[[], bool] = lambda: True) -> None:
        self._send, self._reachable = send, reachable
        self._pending: deque[tuple[str, list[Metric]]] = deque()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.retries = 0  # failed attempts that were retried (an outage shows here)
        self.dropped = 0  # points refused for good (see PERMANENT_ERRORS)

    def put(self, run_id: str, points: list[Metric]) -> None:
        """Queue points and return at once."""
        with self._changed:
            self._pending.append((run_id, points))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="trainworks-metrics", daemon=True)
                self._thread.start()
                atexit.register(self.flush, EXIT_FLUSH_S)
            self._changed.notify_all()

    def pending(self) -> int:
        """Points not yet sent."""
        with self._changed:
            return sum(len(points) for _, points in self._pending)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued point is sent (or dropped); False if `timeout` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending, timeout)

    def _run(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending))
                run_id, points = self._pending[0]
            if self._deliver(run_id, points):
                delay = RETRY_FIRST_S
                with self._changed:
                    self._pending.popleft()
                    self._changed.notify_all()
            else:
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _deliver(self, run_id: str, points: list[Metric]) -> bool:
        """True once the batch is settled (sent, or refused for good); False to retry later."""
        if not self._reachable():
            return False
        try:
            self._send(run_id, points)
        except Exception as error:  # noqa: BLE001  (any failure but a permanent refusal is retried)
            if not is_permanent(error):
                LOG.debug("metric batch for run %s not sent yet: %s", run_id, error)
                return False
            self.dropped += len(points)
            LOG.warning("MLflow refused %d metric points of run %s: %s", len(points), run_id, error)
        return True


_BUFFERS: dict[str, MetricBuffer] = {}
_BUFFERS_LOCK = threading.Lock()


def buffer_for(uri: str, make_sender: Callable[[], Send]) -> MetricBuffer:
    """The process's one buffer per tracking URI (trackers are cheap and made often; their points share it)."""
    with _BUFFERS_LOCK:
        if uri not in _BUFFERS:
            _BUFFERS[uri] = MetricBuffer(make_sender(), lambda: server_answers(uri))
        return _BUFFERS[uri]

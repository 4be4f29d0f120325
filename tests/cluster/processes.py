"""Processes the cluster tests start: a private loopback-only network, and stopping exactly what was started.

Ray 2.60's GCS and raylet gRPC servers listen on every interface of the node's IP and have no
setting to bind to loopback (`ray start` also turns `--node-ip-address=127.0.0.1` into the
machine's routable address). So, when the tests run as root, every service starts inside a
private network namespace whose only interface is `lo`: nothing started here can be reached
from beyond 127.0.0.1, and the services still reach each other on 127.0.0.1.

`ray stop` is machine-wide (it kills every Ray process it finds by name, including other
people's clusters and the test session's own local Ray), so a head is stopped by its process
tree and by the processes that name its private temp dir.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
GRACE_SECONDS = 8.0


def _libc_call(name: str, *args: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        raise OSError(ctypes.get_errno(), f"{name}: {os.strerror(ctypes.get_errno())}")


def _loopback_up() -> None:
    """A new network namespace has `lo` down; bring it up (what `ip link set lo up` does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh14s", b"lo", 0, b"")
        flags = struct.unpack("16sh14s", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh14s", b"lo", flags | IFF_UP, b""))


@contextmanager
def loopback_only_network() -> Iterator[bool]:
    """This thread (and every process it starts) in a fresh network namespace with only `lo`; yields whether it is.

    Only this thread moves (the session's other threads and an already running local Ray keep
    the machine's network); it moves back afterwards. Without the privilege to do so it warns and
    stays on the machine's network.
    """
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            _libc_call("unshare", CLONE_NEWNET)
        except OSError as error:
            warnings.warn(f"no private network namespace ({error}): the Ray head's gRPC servers listen on every "
                          "interface while the cluster tests run", stacklevel=2)
            yield False
            return
        try:
            _loopback_up()
            yield True
        finally:
            _libc_call("setns", original, CLONE_NEWNET)
    finally:
        os.close(original)


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live, non-zombie process (from /proc; no psutil needed)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat[0] != "Z":
            table[int(entry)] = (int(stat[1]), command)
    return table


def descendants(root: int, table: dict[int, tuple[int, str]]) -> set[int]:
    """Every process below `root` in the process tree."""
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier and pid not in found}
        found |= frontier
    return found


def _signal_all(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_tree(child: subprocess.Popen, marker: str | None = None, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM `child`, its process tree and every process naming `marker`; SIGKILL what is left after `grace` s."""
    seen: set[int] = set()  # orphans leave the tree when their parent dies: remember who was in it

    def ours() -> set[int]:
        table = process_table()
        named = {pid for pid, (_, command) in table.items() if marker and marker in command}
        alive = {child.pid} if child.poll() is None else set()
        seen.update(alive | descendants(child.pid, table) | named)
        return {pid for pid in seen if pid in table} - {os.getpid()}

    _signal_all(ours(), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while ours() and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(3):  # a dying parent can still start a child; look again after killing
        left = ours()
        if not left:
            break
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.3)
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


@contextmanager
def process(command: list[str], log: Path, env: dict[str, str], cwd: Path | None = None,
            marker: str | None = None, grace: float = GRACE_SECONDS) -> Iterator[subprocess.Popen]:
    """A process in its own session, output to `log`; on exit it and everything it started are stopped."""
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                 start_new_session=True)
    try:
        yield child
    finally:
        stop_tree(child, marker, grace)


def wait_until(ready: Callable[[], bool], what: str, child: subprocess.Popen | None, log: Path | None,
               timeout: float = 180) -> None:
    """Poll until `ready()`; fail with the process's log if it died or the time ran out."""
    deadline = time.time() + timeout
    while not ready():
        died = child is not None and child.poll() is not None
        if died or time.time() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} did not come up ({'exited' if died else 'timed out'}):\n{tail}")
        time.sleep(0.5)

"""A ``refinet-edge serve`` in a child process: free loopback ports, wait until ready, stop it and its children.

The server runs in its own session (process group), so stopping it reaches
``tritonserver`` and its Python-backend stubs too: SIGTERM to the group, then
SIGKILL to whatever is left after ``grace_s``. Used by the load test and the tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import RefinetError
from .client import ServerAddress, TritonRefinerClient


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports free on 127.0.0.1 right now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class ServerProcess:
    """``refinet-edge serve`` on 127.0.0.1 with ``args`` (backend, --onnx-dir, batching), as a context manager."""

    def __init__(self, args: list[str], log: Path, ports: list[int] | None = None, ready_timeout_s: float = 120.0,
                 grace_s: float = 10.0) -> None:
        self.args, self.log, self.ready_timeout_s, self.grace_s = args, log, ready_timeout_s, grace_s
        self.http_port, self.grpc_port, self.metrics_port = ports or free_ports(3)
        self.process: subprocess.Popen | None = None

    @property
    def http(self) -> ServerAddress:
        return ServerAddress("http", f"127.0.0.1:{self.http_port}")

    @property
    def grpc(self) -> ServerAddress:
        return ServerAddress("grpc", f"127.0.0.1:{self.grpc_port}")

    def start(self) -> ServerProcess:
        """Start the server and wait until model ``refinet`` is ready (RefinetError with the log's tail if not)."""
        command = [sys.executable, "-m", "refinet_edge.cli", "serve", "--address", "127.0.0.1",
                   "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
                   "--metrics-port", str(self.metrics_port), *self.args]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = TritonRefinerClient(self.http, timeout_s=2.0)
        deadline = time.monotonic() + self.ready_timeout_s
        try:
            while not client.ready():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = self.log.read_text(errors="replace").splitlines()[-15:]
                    raise RefinetError("serve did not become ready:\n" + "\n".join(tail))
                time.sleep(0.25)
        finally:
            client.close()
        return self

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, as the fault tests want it)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._reap_group()

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL it after ``grace_s``; afterwards no process of the group is left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reap_group()

    def _reap_group(self) -> None:
        """Children that outlived the leader (tritonserver, stubs) get SIGKILL; wait until none is left."""
        assert self.process is not None
        deadline = time.monotonic() + self.grace_s
        while group_alive(self.process.pid):
            if time.monotonic() > deadline:
                os.killpg(self.process.pid, signal.SIGKILL)
                deadline = time.monotonic() + self.grace_s
            time.sleep(0.1)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def group_alive(pgid: int) -> bool:
    """Some process of group ``pgid`` is still running (zombies waiting for a reaper do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False

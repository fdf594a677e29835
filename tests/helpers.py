"""Helpers for tests that run real processes: relays, private Redis servers, waiting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


def drained(app: Any, queues: list[str]) -> bool:
    """Nothing left on ``queues`` of the Celery ``app``'s broker, nothing unacknowledged."""
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        return not any(client.llen(q) for q in queues) and not client.hlen("unacked")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Relay:
    """``python -m shared.relay`` as a real process, to stop, kill and restart."""

    def __init__(self, service: str, **env: str) -> None:
        self.service, self.env = service, {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Relay:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.relay", "--service", self.service],
            cwd=ROOT,
            env=self.env,
            stderr=subprocess.PIPE,
        )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.proc = None
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class PrivateRedis:
    """A redis-server of the test's own on a spare loopback port, to stop and start at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="cbtest-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, appendonly: bool = True) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if appendonly else "no",
                "--appendfsync",
                "always",
                "--dir",
                self.dir,
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), timeout=10)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def running_worker(app: Any, queues: list[str]) -> Any:
    """A real Celery worker of ``app`` consuming ``queues`` in this process (a context)."""
    from celery.contrib.testing.worker import start_worker

    return start_worker(
        app,
        queues=queues,
        perform_ping_check=False,
        pool="solo",
        loglevel="WARNING",
        shutdown_timeout=10,
    )


class WorkerProcess:
    """``celery worker`` as a real process group (the main process and its pool), to kill -9."""

    def __init__(
        self,
        app: str,
        queues: list[str],
        name: str,
        concurrency: int = 2,
        log: Path | None = None,
        **env: str,
    ) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-Q",
            ",".join(queues),
            "-n",
            f"{name}@%h",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ]
        self.env = {**os.environ, **env}
        self.log = log  # where its log lines go (stderr), if the test reads them
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        stderr = self.log.open("ab") if self.log is not None else None
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        finally:
            if stderr is not None:
                stderr.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: the main process and every pool process, at once."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class QuietHandler(BaseHTTPRequestHandler):
    """A loopback HTTP server's handler that keeps its access log off the test output: the
    tests read what arrived from what the handler records, not from the log."""

    def log_message(self, format: str, *args: Any) -> None:
        return None

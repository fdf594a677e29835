"""The whole system for the browser tests, as ``make run`` runs it: every service under
gunicorn (the window included) on spare loopback ports, the relays, and a Celery worker per
service on its queues, all on this test run's databases and Redis DB. And a small HTTP
client of the APIs, to set up what a test's journey starts from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, free_port, wait_for

SERVICES = ("org", "intake", "review", "notify", "window")
WORKERS = {
    "org": ["org"],
    "intake": ["intake", "intake.imports"],
    "review": ["review.acceptance_point", "review.subcentre", "review.branch", "review.province"],
    "notify": ["notify"],
}
RELAYS = ("org", "intake", "review")


@dataclass
class System:
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cbt-window-logs-")))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self) -> System:
        self.ports = {service: free_port() for service in SERVICES}
        env = {
            **os.environ,
            **self.env,
            **{f"CB_{s.upper()}_URL": self.url(s) for s in SERVICES[:4]},
            "CB_WINDOW_PUBLIC_URL": self.url("window"),
            "CB_WEB_WORKERS": "1",
        }
        for service in SERVICES:
            workers = "3" if service == "window" else "2"
            self._spawn(
                service,
                [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
                 "--bind", f"127.0.0.1:{self.ports[service]}", "--workers", workers,
                 f"services.{service}.app:create_app()"],
                env,
            )  # fmt: skip
        for service in RELAYS:
            relay = [sys.executable, "-m", "shared.relay", "--service", service]
            self._spawn(f"relay-{service}", relay, env)
        for service, queues in WORKERS.items():
            self._spawn(
                f"worker-{service}",
                [sys.executable, "-m", "celery", "-A", f"services.{service}.worker", "worker",
                 "-Q", ",".join(queues), "-n", f"{service}-browser@%h", "--pool", "solo",
                 "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
                env,
            )  # fmt: skip
        for service in SERVICES:
            wait_for(lambda s=service: _answers(f"{self.url(s)}/healthz"), timeout=60)
        return self

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
        self.procs.append(proc)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def tails(self, lines: int = 15) -> str:
        """The end of every process's log: what a failing test prints."""
        out = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            if text:
                out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Client:
    """Plain calls to one API, as a test sets up its world (JSON in, JSON out)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base, self.token = base, token

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self(method, path, body)
        assert status < 300, (method, path, status, answer)
        return answer

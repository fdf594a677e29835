"""Flower, as `make run` starts it, asks for its basic auth on every page, /metrics too."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.helpers import ROOT, free_port, wait_for


def status(url: str, credentials: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if credentials:
        request.add_header(
            "Authorization", "Basic " + base64.b64encode(credentials.encode()).decode()
        )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


@pytest.fixture
def flower() -> str:
    port = free_port()
    argv = ["-m", "celery", "-A", "shared.flower", "flower", "--address=127.0.0.1"]
    argv += [f"--port={port}", "--basic-auth=user:pass", "--persistent=False"]
    proc = subprocess.Popen(
        [sys.executable, *argv],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: status(f"{base}/healthcheck")[0] == 200, timeout=30)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_metrics_need_the_same_basic_auth_as_every_other_page(flower: str) -> None:
    for page in ("/metrics", "/workers"):
        assert status(flower + page)[0] == 401, page
        assert status(flower + page, "user:wrong")[0] == 401, page
        assert status(flower + page, "user:pass")[0] == 200, page
    assert b"flower_" in status(flower + "/metrics", "user:pass")[1]

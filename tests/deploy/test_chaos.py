"""The chaos harness's short run: the whole system (every process of the Procfile) on its own
PostgreSQL and Redis, under load, with every kind of fault injected at least once; the
checker finds no violation. bench/chaos.py's default run (10 minutes) is `make chaos`."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bench.chaos_faults import KINDS
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.timeout(420)
def test_a_short_chaos_run_injects_every_fault_and_finds_no_violation() -> None:
    # Its own servers and settings: nothing of this test run's (CB_*) reaches it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CB_")}
    run = subprocess.run(
        [sys.executable, "bench/chaos.py", "--duration", "60", "--gap", "5", "--settle", "180"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    figures = dict(re.findall(r"^(\w+): (\d+)$", run.stdout, re.MULTILINE))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert figures["violations"] == "0"
    assert all(int(figures[f"faults_injected_{kind}"]) >= 1 for kind in KINDS), figures
    assert int(figures["operations_accepted_deposit"]) > 0
    assert int(figures["operations_accepted_decision"]) > 0

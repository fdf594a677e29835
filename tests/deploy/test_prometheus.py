"""deploy/prometheus and deploy/grafana: valid for Prometheus's own promtool, scraping every
process `make run` starts, the alerts firing when they should, one dashboard row per level."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from shared.levels import LEVEL_ORDER
from shared.task_metrics import WORKER_PORTS
from tests.deploy.test_compose import option, procfile
from tests.helpers import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    # Debian's prometheus package (make packages): a missing promtool fails, never skips.
    assert shutil.which("promtool"), "promtool missing: run `make packages`"
    return subprocess.run(
        ["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )


def test_the_configuration_and_the_rules_are_valid() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_each_alert_fires_when_it_should() -> None:
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = (PROMETHEUS / "alerts.test.yml").read_text()
    for alert in alerts:
        assert f"alertname: {alert['alert']}" in tests, alert["alert"]


def scraped() -> set[str]:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    return {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }


def test_every_process_make_run_starts_with_a_metrics_page_is_scraped() -> None:
    expected = set()
    for _name, argv in procfile().items():
        if argv[0] == "gunicorn" or "shared.metrics_exporter" in argv:
            expected.add(option(argv, "--bind", "-b"))
        elif "worker" in argv and argv[0] == "celery":
            expected.add(f"127.0.0.1:{WORKER_PORTS[option(argv, '-Q', '--queues')]}")
    assert len(expected) == 5 + 1 + 8
    assert scraped() == expected


def test_the_dashboard_has_one_row_per_review_level() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    levels = [r for r in rows if r.startswith("Review level:")]
    assert levels == [
        next(r for r in levels if f"(review.{level.value})" in r) for level in LEVEL_ORDER
    ]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


@pytest.mark.parametrize("path", [DASHBOARD, PROMETHEUS / "alerts.yml"])
def test_every_metric_queried_is_one_we_export(path) -> None:
    ours = {
        "cb_http_requests_total",
        "cb_http_request_duration_seconds_bucket",
        "cb_queue_messages",
        "cb_queue_unacked",
        "cb_outbox_unsent",
        "cb_outbox_oldest_unsent_age_seconds",
        "cb_review_cases",
        "cb_notify_deliveries",
        "cb_notify_dead_letters",
        "cb_intake_imports_in_progress",
        "cb_celery_tasks_total",
        "cb_celery_task_duration_seconds_bucket",
        "cb_exporter_source_up",
    }
    named = set(re.findall(r"\bcb_[a-z_]+", path.read_text()))
    assert named and named <= ours, named - ours

"""Shared core: settings, logs, sealing, contracts, Celery configuration."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from shared import contracts, sealing
from shared.celery_app import make_celery
from shared.logs import JsonFormatter, redact, request_id_var
from shared.queues import QUEUES, queue_for, route_task
from shared.settings import load_settings


def test_settings_defaults_env_and_overrides() -> None:
    env = {
        "CB_ACCESS_TOKEN_TTL": "60",
        "CB_ORG_DATABASE_URL": "postgresql://x/y",
        "CB_RELAY_IDLE_WAIT": "0.5",
    }
    s = load_settings("org", {"access_token_ttl": 30, "custom": 1}, environ=env)
    assert s.access_token_ttl == 30 and s.relay_idle_wait == 0.5
    assert s.database_url == "postgresql://x/y" and s.extra == {"custom": 1}
    other = load_settings("intake", environ=env)
    assert other.database_url.endswith("/creditbank_intake") and other.access_token_ttl == 60


def test_redact_masks_id_and_mobile_numbers() -> None:
    text = "learner 33010219900307123X phone 13812345678 order 12345"
    out = redact(text)
    assert "33010219900307123X" not in out and "13812345678" not in out
    assert "3301**********123X" in out and "138****5678" in out and "12345" in out


def test_json_log_lines_carry_ids_and_never_personal_data() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    log = logging.getLogger("cbtest")
    log.addHandler(handler)
    token = request_id_var.set("req-1")
    try:
        log.warning("looked up %s", "330102199003071235", extra={"application_id": "A1"})
    finally:
        request_id_var.reset(token)
        log.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["request_id"] == "req-1" and entry["application_id"] == "A1"
    assert "330102199003071235" not in stream.getvalue()


def test_task_logs_leave_out_message_bodies_and_redact_nested_values() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    log = logging.getLogger("cbtest.celery")
    log.addHandler(handler)
    data = {"id": "t-1", "name": "x.y", "kwargs": {"note": "body"}, "args": "()"}
    try:
        # As Celery logs a received task: the arguments ride along in ``data``.
        log.warning("Task %(name)s[%(id)s] received", data, extra={"data": data})
        log.warning("lookup", extra={"detail": {"phones": ["13812345678"]}})
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "Task x.y[t-1] received"
    assert first["data"] == {"id": "t-1", "name": "x.y"}
    assert second["detail"] == {"phones": ["138****5678"]}


def test_a_task_runtime_shaped_like_an_id_number_is_logged_as_is() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    log = logging.getLogger("cbtest.celery")
    log.addHandler(handler)
    data = {"id": "t-1", "runtime": 0.014540962999944895, "phone": 13812345678}
    try:
        log.warning("Task succeeded", extra={"data": data})
    finally:
        log.removeHandler(handler)
    (entry,) = (json.loads(line) for line in stream.getvalue().splitlines())
    assert entry["data"] == {"id": "t-1", "runtime": 0.014540962999944895, "phone": "138****5678"}


def test_sealed_box_round_trip_and_tamper(tmp_path) -> None:
    sealing.generate_keypair(tmp_path / "p", tmp_path / "p.pub")
    token = sealing.seal((tmp_path / "p.pub").read_bytes(), "ABCD-EFGH-JKLM")
    assert "ABCD" not in token
    assert sealing.unseal((tmp_path / "p").read_bytes(), token) == "ABCD-EFGH-JKLM"
    sealing.generate_keypair(tmp_path / "q", tmp_path / "q.pub")
    with pytest.raises(Exception):  # noqa: B017 - any failure to open is the point
        sealing.unseal((tmp_path / "q").read_bytes(), token)


def test_contract_checked_by_sender_and_receiver() -> None:
    good = {
        "message_id": str(uuid.uuid4()),
        "event_type": "org.acceptance_point_operating",
        "occurred_at": "2026-11-27T08:00:00+08:00",
        "unit_code": "AP000001",
    }
    contracts.check("notify.deliver", good)
    loaded = contracts.load("notify.deliver", good)
    assert loaded["recipient_staff_ids"] == [] and loaded["sealed"] == {}
    with pytest.raises(contracts.ContractError, match="event_type"):
        contracts.check("notify.deliver", {**good, "event_type": "nope"})
    with pytest.raises(contracts.ContractError, match="phone"):
        contracts.load("notify.deliver", {**good, "phone": "13812345678"})
    with pytest.raises(contracts.ContractError, match="no contract"):
        contracts.check("notify.unknown", good)


def test_celery_reliability_settings() -> None:
    app = make_celery(load_settings("org"))
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert {q.name for q in conf.task_queues} == set(QUEUES)
    with pytest.raises(ValueError, match="visibility_timeout"):
        make_celery(load_settings("org", {"visibility_timeout": 60, "task_time_limit": 300}))


def test_routing_by_task_name() -> None:
    assert queue_for("notify.deliver") == "notify"
    assert queue_for("intake.apply_decision") == "intake"
    with pytest.raises(ValueError):
        queue_for("review.open_case")
    assert route_task("review.open_case", (), {}, {"queue": "review.branch"}) == {
        "queue": "review.branch"
    }
    assert route_task("org.purge_refresh_tokens", (), {}, {}) == {"queue": "org"}


def test_closing_a_channel_whose_transport_is_gone_is_a_connection_error(run_env) -> None:
    """The kombu fix: what made a worker stop with "Unrecoverable error" when Redis went away
    is now a connection error, which the worker ignores while it reconnects."""
    from kombu import Connection, Queue
    from kombu.common import ignore_errors

    import shared.celery_app  # noqa: F401 - applies the fix

    with Connection(run_env["CB_REDIS_URL"]) as conn:
        queue = Queue("cbtest.kombu-fix", routing_key="cbtest.kombu-fix")
        conn.Producer().publish({"n": 1}, routing_key="cbtest.kombu-fix", declare=[queue])
        channel = conn.default_channel
        assert queue(channel).get(no_ack=False) is not None  # held unacknowledged
        channel._pool = None  # the next client is built afresh...
        conn.transport.client = None  # ...from details kombu has already dropped
        ignore_errors(conn, channel.close)  # raised AttributeError before the fix

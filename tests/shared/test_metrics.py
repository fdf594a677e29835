"""``/metrics`` of the web apps: requests by URL rule and status, and who may read them."""

from __future__ import annotations

import importlib

import pytest
from prometheus_client.parser import text_string_to_metric_families

SERVICES = ("org", "intake", "review", "notify", "window")
OUTSIDE = {"REMOTE_ADDR": "10.1.2.3"}


def app_of(service: str, **overrides):
    return importlib.import_module(f"services.{service}.app").create_app(overrides or None)


def samples(body: bytes, name: str) -> list:
    return [
        sample
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_requests_are_counted_by_url_rule_and_status(service: str) -> None:
    client = app_of(service).test_client()
    client.get("/healthz")
    client.get("/no/such/page/330102199003071234")
    body = client.get("/metrics").data
    counted = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for s in samples(body, "cb_http_requests_total")
        if s.labels["service"] == service
    }
    assert counted[("/healthz", "200")] >= 1
    assert counted[("<unmatched>", "404")] >= 1
    assert b"330102199003071234" not in body
    latency = samples(body, "cb_http_request_duration_seconds_count")
    assert any(s.labels["endpoint"] == "/healthz" for s in latency)


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_answer_loopback_and_the_token_only(service: str) -> None:
    client = app_of(service, metrics_token="scrape-secret").test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    wrong = {"Authorization": "Bearer not-it"}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=wrong).status_code == 404
    right = {"Authorization": "Bearer scrape-secret"}
    answer = client.get("/metrics", environ_base=OUTSIDE, headers=right)
    assert answer.status_code == 200 and b"cb_http_requests_total" in answer.data


def test_no_token_set_means_loopback_only() -> None:
    client = app_of("org").test_client()
    empty = {"Authorization": "Bearer "}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=empty).status_code == 404


def test_a_forwarded_loopback_address_is_not_believed() -> None:
    # Behind a trusted proxy the client's address is the forwarded one; /metrics still looks
    # at the connection's own, or anyone could name 127.0.0.1.
    client = app_of("org", trusted_proxy_hops=1).test_client()
    forged = {"X-Forwarded-For": "127.0.0.1"}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=forged).status_code == 404


def test_metrics_are_left_out_of_the_openapi_documents() -> None:
    spec = app_of("intake").test_client().get("/openapi.json").json
    assert "/metrics" not in spec["paths"]

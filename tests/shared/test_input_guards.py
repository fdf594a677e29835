"""What PostgreSQL cannot hold never reaches it: a 422 naming the field, or a 404 for a path.

The shared schema base (``shared.schemas.Strict``) refuses NUL characters, integers outside
32 bits and dates outside the years the system works with, in every field; the URL
converters (``shared.web``) refuse the same in path segments; a streamed body is cut off at
its limit. Each service is asked with the inputs that answered 500 before.
"""

from __future__ import annotations

import http.client
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError, fields

from shared.schemas import Strict
from tests.factories import TokenFactory
from tests.helpers import ROOT, free_port, wait_for

PROVINCE = ("ZJ", "/ZJ/", "province")


class Sample(Strict):
    name = fields.String()
    count = fields.Integer()
    day = fields.Date()
    tags = fields.List(fields.String())
    notes = fields.Dict(keys=fields.String(), values=fields.String())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"count": 2**31}, "count"),
        ({"count": -(2**31) - 1}, "count"),
        ({"day": "0001-01-01"}, "day"),
        ({"day": "9999-12-31"}, "day"),
        ({"tags": ["ok", "b\x00"]}, "tags"),
        ({"notes": {"k": "v\x00"}}, "notes"),
    ],
)
def test_strict_refuses_what_the_database_cannot_hold(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Sample().load(body)
    assert field in refused.value.messages


def test_strict_takes_the_edges_it_allows_and_adds_each_guard_once() -> None:
    for _ in range(3):  # a bound field shares its validators with the declared one
        loaded = Sample().load({"name": "张三", "count": 2**31 - 1, "day": "2999-12-31"})
    assert loaded["count"] == 2**31 - 1
    with pytest.raises(ValidationError) as refused:
        Sample().load({"name": "\x00"})
    assert refused.value.messages == {"name": ["must not contain a NUL character (U+0000)"]}


def client_of(service: str) -> Any:
    return importlib.import_module(f"services.{service}.app").create_app().test_client()


# (service, method, path, body): each answered 500 before; each must be a 422 naming a field.
REFUSED = [
    ("org", "post", "/api/v1/auth/token", {"username": "ad\x00min", "password": "x"}),
    (
        "org",
        "post",
        "/api/v1/staff",
        {
            "username": "a\x00b",
            "display_name": "x",
            "unit_code": "ZJ",
            "roles": ["admin"],
            "password": "pass-word-123",
        },
    ),
    (
        "org",
        "post",
        "/api/v1/acceptance-points",
        {
            "name": "学校\x00",
            "parent_code": "S001",
            "point_kind": "community_school",
            "point_tier": "township",
        },
    ),
    ("org", "get", "/api/v1/units?q=%00", None),
    ("review", "get", "/api/v1/inbox?kind=%00", None),
    ("review", "get", "/api/v1/routes?version=2147483648", None),
    ("notify", "get", "/api/v1/deliveries?event_type=%00", None),
    (
        "notify",
        "post",
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1/\x00", "event_types": ["review.daily_digest"]},
    ),
    ("intake", "get", "/api/v1/applications?unit_code=%00", None),
    ("intake", "get", "/api/v1/assessment?from=0001-01-01&to=0001-01-01&by=point", None),
    ("intake", "get", "/api/v1/assessment?from=9999-12-31&to=9999-12-31&by=point", None),
]

# Paths that name nothing: 404, never 500.
NOT_FOUND = [
    ("org", "get", "/api/v1/units/%00"),
    ("org", "post", "/api/v1/staff/2147483648/reactivate"),
    ("notify", "delete", "/api/v1/webhooks/2147483648"),
    ("notify", "post", "/api/v1/inbox/99999999999999999999/read"),
    ("intake", "get", "/api/v1/accounts/ZJ%00"),
]


@pytest.mark.parametrize(("service", "method", "path", "body"), REFUSED)
def test_bad_values_are_422_naming_the_field(
    service: str, method: str, path: str, body: Any, var_dir: Path
) -> None:
    headers = TokenFactory(var_dir).make(*PROVINCE, roles=("admin",))
    r = getattr(client_of(service), method)(path, headers=headers, json=body)
    assert r.status_code == 422, r.json
    assert r.json["errors"] and all(e["field"] for e in r.json["errors"])


@pytest.mark.parametrize(("service", "method", "path"), NOT_FOUND)
def test_paths_that_name_nothing_are_404(
    service: str, method: str, path: str, var_dir: Path
) -> None:
    headers = TokenFactory(var_dir).make(*PROVINCE, roles=("admin",))
    r = getattr(client_of(service), method)(path, headers=headers)
    assert r.status_code == 404, r.json
    assert r.json["status"] == 404


def test_idempotency_key_must_be_visible_ascii(var_dir: Path) -> None:
    headers = TokenFactory(var_dir).make(
        "AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point", roles=("service",)
    )
    body = {"account_number": "ZJ2026000001", "outcome_kind": "other", "outcome": {}}
    r = client_of("intake").post(
        "/api/v1/applications", headers={**headers, "Idempotency-Key": "k\x7f"}, json=body
    )
    assert r.status_code == 422
    assert r.json["errors"][0]["field"] == "Idempotency-Key"


@pytest.fixture(scope="module")
def org_server(run_env: dict[str, str]) -> Any:
    """org under gunicorn, as deployed: it is the server that ends a chunked body."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py"]
    argv += ["--bind", f"127.0.0.1:{port}", "services.org.app:create_app()"]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **run_env, "CB_WEB_WORKERS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: _answers(port), timeout=30)
    yield port
    proc.terminate()
    proc.wait(timeout=20)


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


def _chunked_post(port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/api/v1/auth/token")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for start in range(0, len(body), 64 * 1024):
            chunk = body[start : start + 64 * 1024]
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered at the limit and closed: the answer is still there
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_a_streamed_body_over_the_limit_is_413(org_server: int) -> None:
    big = b'{"username": "' + b"a" * (3 * 1024 * 1024) + b'", "password": "x"}'
    status, headers, body = _chunked_post(org_server, big)
    assert status == 413, body
    assert b"content-too-large" in body and headers.get("Connection") == "close"


def test_a_streamed_body_under_the_limit_is_read(org_server: int) -> None:
    status, _, body = _chunked_post(org_server, b'{"username": "nobody", "password": "x"}')
    assert status == 401, body  # read whole, parsed, and checked like any other body

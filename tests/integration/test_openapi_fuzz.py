"""Schemathesis against every service's ``/openapi.json``, in process over WSGI, signed in.

Each operation of each service is sent what its documented schema allows and what it does
not (schemathesis' examples, coverage and fuzzing phases), with a real token, and every
answer must be:

- no 5xx (``not_a_server_error``): input that reaches the database unchecked is a 422;
- of a status documented for the operation by number (``status_code_documented`` below:
  schemathesis' own ``status_code_conformance`` counts the ``default`` response every
  operation has, and so passes any status) and of a documented media type
  (``content_type_conformance``);
- shaped as its documented schema (``response_schema_conformance``), headers included
  (``response_headers_conformance``).

Bounded and deterministic: at most ``MAX_EXAMPLES`` fuzzed examples per operation on top of
the coverage phase (whose cases the schema bounds: each constraint's edges and violations),
hypothesis derandomized and without an example database, no deadline per example; each
operation is one test item under pytest-timeout's limit.

Sign-in where it matters: org's state-changing views check the caller against org's own
tables, so the run makes a real provincial-centre administrator there and signs in over
``/api/v1/auth/token``. Intake, review and notify verify tokens on their own (the run's
signing key, as org signs), so they get tokens of the callers they serve: intake a
``service`` clerk of an OPERATING acceptance point and a provincial-centre administrator,
review a provincial reviewer and administrator, notify a provincial administrator.

State: the run's throwaway databases. Each service's fixture starts from clean tables (the
other packages truncate theirs in autouse fixtures; this one does not rely on what they left)
and leaves them clean (org with its tree loaded, review with its route table seeded), and the
run's Redis DB is emptied each time, so a suspension or a deactivation the fuzzer made (they
are revocations in Redis, which every service honours) reaches no other test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    is_unexpected_http_status_case,
    response_headers_conformance,
    response_schema_conformance,
)
from sqlalchemy import text

from services.intake.app import create_app as intake_app
from services.notify.app import create_app as notify_app
from services.org.app import create_app as org_app
from services.review.app import create_app as review_app
from shared.auth import Principal, TokenIssuer
from tests.factories import INTAKE_TABLES, NOTIFY_TABLES, ORG_TABLES, REVIEW_TABLES

# Fuzzed examples per operation, on top of the examples and coverage phases. With the 85
# operations (intake's twice) the module takes about a minute on 2 cores.
MAX_EXAMPLES = 100


@schemathesis.check
def status_code_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' ``status_code_conformance``, without counting ``default``: every
    operation has that catch-all (the problem shape of any error), so it would pass any
    status. Each status an operation answers must be documented for it by number."""
    if is_unexpected_http_status_case(case):  # a probe with a method or media type not served
        return True
    documented = [code for code in case.operation.responses.status_codes if code != "default"]
    allowed = {code for code in documented if code.isdigit()} | {
        f"{code[0]}{n:02d}"
        for code in documented
        if code.upper().endswith("XX")
        for n in range(100)
    }
    if str(response.status_code) not in allowed:
        raise AssertionError(
            f"Undocumented HTTP status code (default aside)\n\nReceived: {response.status_code}"
            f"\nDocumented: {', '.join(documented)}"
        )
    return None


CHECKS = [
    not_a_server_error,
    status_code_documented,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

ADMIN, PASSWORD = "fuzz-province-admin", "fuzz-pass-word-123"
POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")
PROVINCE = ("ZJ", "/ZJ/", "province")


def _schema(app: Flask) -> Any:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # The token is ours (given per call): no made-up Authorization header from the schema.
    schema.config.generation.update(with_security_parameters=False)
    return schema


APPS = {"org": org_app(), "intake": intake_app(), "review": review_app(), "notify": notify_app()}

# Nothing is left out. What looks as if it could sign the test out or spoil what it needs
# cannot: POST /auth/revoke and /auth/refresh only ever get refresh tokens the fuzzer made
# up (the administrator's is never handed to it), which name nothing; an admin cannot
# deactivate their own account (409), and the administrator is the only staff the fuzzer
# can reach until it creates some; a suspension reaches only acceptance points, never the
# provincial centre; PUT /routes replaces the route table, which the review fixture seeds
# again afterwards; every token but org's is minted here and cannot be revoked except in
# Redis, which each service's fixture empties first.
ORG = _schema(APPS["org"])
INTAKE = _schema(APPS["intake"])
REVIEW = _schema(APPS["review"])
NOTIFY = _schema(APPS["notify"])


def _flush_redis() -> None:
    """Empty the run's Redis DB: revocations and login throttles the fuzzer left (or that
    tests before left) reach no other test."""
    client = redis.Redis.from_url(os.environ["CB_REDIS_URL"])
    client.flushdb()
    client.close()


def _truncate(db: Any, tables: str, then: Callable[[Any], None] | None = None) -> None:
    _flush_redis()
    with db.transaction() as session:
        session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        if then is not None:
            then(session)


def _issuer(var_dir: Path) -> TokenIssuer:
    private = (var_dir / "keys" / "jwt_private.pem").read_bytes()
    # A module's tokens are minted once and used for its whole run, which on a loaded
    # machine has outlasted the 15 minutes a real access token lives: 3 hours here.
    return TokenIssuer(private, "creditbank-org", "creditbank", 3 * 3600)


def _bearer(issuer: TokenIssuer, unit: tuple[str, str, str], roles: tuple[str, ...]) -> dict:
    code, path, level = unit
    state = "OPERATING" if level == "acceptance_point" else None
    principal = Principal(900, f"fuzz-{code.lower()}", code, path, level, frozenset(roles), state)
    return {"Authorization": f"Bearer {issuer.issue(principal)}"}


@pytest.fixture(scope="module")
def org_admin() -> Iterator[dict[str, str]]:
    """A provincial-centre administrator in org's own tables, signed in over HTTP."""
    from services.org import tree
    from services.org.context import context, db
    from services.org.models import Staff

    def fresh(session: Any) -> None:
        session.execute(text("ALTER SEQUENCE acceptance_point_code_seq RESTART"))
        tree.load_tree(session)

    app = APPS["org"]
    _truncate(db, ORG_TABLES, fresh)
    with app.app_context():
        password_hash = context().passwords.hash(PASSWORD)
    with db.transaction() as session:
        session.add(
            Staff(
                username=ADMIN,
                display_name=ADMIN,
                unit_code=tree.PROVINCE_CODE,
                roles=["admin"],
                password_hash=password_hash,
            )
        )
    r = app.test_client().post("/api/v1/auth/token", json={"username": ADMIN, "password": PASSWORD})
    assert r.status_code == 200, r.json
    yield {"Authorization": f"Bearer {r.json['access_token']}"}
    _truncate(db, ORG_TABLES, fresh)
    db.remove()


@pytest.fixture(scope="module")
def intake_tokens(var_dir: Path) -> Iterator[dict[str, dict[str, str]]]:
    from services.intake.context import db

    _truncate(db, INTAKE_TABLES)
    issuer = _issuer(var_dir)
    yield {
        "clerk": _bearer(issuer, POINT, ("service",)),
        "admin": _bearer(issuer, PROVINCE, ("admin",)),
    }
    _truncate(db, INTAKE_TABLES)
    db.remove()


@pytest.fixture(scope="module")
def review_token(var_dir: Path) -> Iterator[dict[str, str]]:
    from services.review.context import worker_db
    from services.review.routing import seed_routes

    _truncate(worker_db(), REVIEW_TABLES, seed_routes)
    yield _bearer(_issuer(var_dir), PROVINCE, ("admin", "reviewer"))
    _truncate(worker_db(), REVIEW_TABLES, seed_routes)


@pytest.fixture(scope="module")
def notify_token(var_dir: Path) -> Iterator[dict[str, str]]:
    from services.notify.context import worker_db

    _truncate(worker_db(), NOTIFY_TABLES)
    yield _bearer(_issuer(var_dir), PROVINCE, ("admin",))
    _truncate(worker_db(), NOTIFY_TABLES)


@ORG.parametrize()
@FUZZ
def test_org(case: Any, org_admin: dict[str, str]) -> None:
    case.call_and_validate(headers=org_admin, checks=CHECKS)


@INTAKE.parametrize()
@FUZZ
def test_intake_as_window_clerk(case: Any, intake_tokens: dict[str, dict[str, str]]) -> None:
    case.call_and_validate(headers=intake_tokens["clerk"], checks=CHECKS)


@INTAKE.parametrize()
@FUZZ
def test_intake_as_province_admin(case: Any, intake_tokens: dict[str, dict[str, str]]) -> None:
    case.call_and_validate(headers=intake_tokens["admin"], checks=CHECKS)


@REVIEW.parametrize()
@FUZZ
def test_review(case: Any, review_token: dict[str, str]) -> None:
    case.call_and_validate(headers=review_token, checks=CHECKS)


@NOTIFY.parametrize()
@FUZZ
def test_notify(case: Any, notify_token: dict[str, str]) -> None:
    case.call_and_validate(headers=notify_token, checks=CHECKS)

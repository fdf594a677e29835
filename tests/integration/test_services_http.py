"""Every service: /healthz, /readyz, /openapi.json (generated) and /docs served locally."""

from __future__ import annotations

import importlib

import pytest

SERVICES = ("org", "intake", "review", "notify")


def app_of(service: str, **overrides):
    return importlib.import_module(f"services.{service}.app").create_app(overrides or None)


@pytest.mark.parametrize("service", SERVICES)
def test_alive_and_ready_when_its_database_and_redis_answer(service: str) -> None:
    client = app_of(service).test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_openapi_document_is_generated_with_the_problem_shape(service: str) -> None:
    spec = app_of(service).test_client().get("/openapi.json").json
    assert spec["openapi"].startswith("3.") and "/readyz" in spec["paths"]
    assert "Problem" in spec["components"]["schemas"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_docs_are_served_with_their_assets_locally(service: str) -> None:
    client = app_of(service).test_client()
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"/docs/assets/swagger-ui-bundle.js" in docs.data
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize("service", SERVICES)
def test_a_request_id_sent_comes_back(service: str) -> None:
    client = app_of(service).test_client()
    rid = client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
    assert rid == "abc-123"


@pytest.mark.parametrize("service", SERVICES)
def test_forwarded_for_is_believed_only_from_trusted_proxies(service: str) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    assert not isinstance(app_of(service).wsgi_app, ProxyFix)
    behind = app_of(service, trusted_proxy_hops=2).wsgi_app
    assert isinstance(behind, ProxyFix) and behind.x_for == 2


@pytest.mark.parametrize("service", SERVICES)
def test_every_answer_forbids_type_sniffing(service: str) -> None:
    client = app_of(service).test_client()
    answers = [
        client.get("/healthz"),
        client.get("/openapi.json"),
        client.get("/docs/assets/swagger-ui-bundle.js"),
        client.get("/api/v1/no-such-thing"),  # 404, a problem
        client.post("/healthz"),  # 405
    ]
    answers += [client.get(path) for path in protected_paths(client)[:1]]  # 401
    assert {r.status_code for r in answers} >= {200, 404, 405, 401}
    for r in answers:
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.request.path


def protected_paths(client) -> list[str]:
    spec = client.get("/openapi.json").json
    return [
        p
        for p, ops in spec["paths"].items()
        if "get" in ops and ops["get"].get("security") and "{" not in p
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_not_ready_when_redis_does_not_answer(service: str) -> None:
    client = app_of(service, redis_url="redis://127.0.0.1:1/0").test_client()
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["database"] == "ok"
    assert r.json["checks"]["redis"].startswith("unavailable")


def test_org_openapi_documents_every_route() -> None:
    app = app_of("org")
    spec = app.test_client().get("/openapi.json").json
    routes = {str(rule) for rule in app.url_map.iter_rules() if str(rule).startswith("/api/v1")}
    documented = {p.replace("{", "<").replace("}", ">") for p in spec["paths"]}
    documented |= {p.replace("<staff_id>", "<int:staff_id>") for p in documented}
    assert routes <= documented
    assert spec["paths"]["/api/v1/acceptance-points"]["post"]["requestBody"]


def test_committed_openapi_documents_match_the_code() -> None:
    from deploy.openapi import main

    assert main(["--check"]) == 0, "docs/openapi is stale: run `make openapi`"

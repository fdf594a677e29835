"""Org fixtures: a fresh tree per test, a client, and a small world of staff to act as
(``tests.factories.World``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_smorest import Blueprint

from tests.factories import World


@pytest.fixture(autouse=True)
def fresh_org(clean_org: None) -> Iterator[None]:
    yield


@pytest.fixture
def client(org_app: Flask) -> Iterator[FlaskClient]:
    with org_app.app_context():
        yield org_app.test_client()


@pytest.fixture
def world(client: FlaskClient) -> World:
    return World(client)


def other_service() -> Any:
    """The intake service's app with one view that needs a signed-in caller: another service
    honouring org's revocations."""
    from services.intake import config as intake_config
    from services.intake.app import db as intake_db
    from shared.auth import current_principal
    from shared.web import create_service_app

    blp = Blueprint("probe", __name__)

    @blp.route("/whoami")
    def whoami():
        return {"unit": current_principal().unit_code}

    settings = intake_config.settings()
    app = create_service_app("intake", settings, intake_db, [blp], "t", "t")
    return app.test_client()

"""The bare baseline bench/intake.py measures intake against, on the same server settings:
a Flask endpoint that validates a body of the same size with marshmallow, inserts one row
with SQLAlchemy and publishes one Celery task. Nothing else: no auth, no outbox, no scope."""

from __future__ import annotations

import os
import uuid

from celery import Celery
from flask import Flask, request
from marshmallow import Schema, fields
from sqlalchemy import JSON, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "baseline_rows"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    body: Mapped[dict] = mapped_column(JSON)


class Body(Schema):
    account_number = fields.String(required=True)
    outcome_kind = fields.String(required=True)
    outcome = fields.Dict(required=True)
    attachments = fields.List(fields.String(), required=True)


def create_app() -> Flask:
    app = Flask("baseline")
    engine = create_engine(os.environ["BASELINE_DATABASE_URL"], pool_size=5)
    Base.metadata.create_all(engine)
    celery = Celery("baseline", broker=os.environ["CB_REDIS_URL"])
    schema = Body()

    @app.post("/baseline")
    def baseline() -> tuple[dict[str, str], int]:
        body = schema.load(request.get_json())
        row_id = uuid.uuid4()
        with Session(engine) as session:
            session.add(Row(id=row_id, body=body))
            session.commit()
        celery.send_task("baseline.noop", kwargs={"id": str(row_id)}, queue="bench.baseline")
        return {"id": str(row_id)}, 201

    return app

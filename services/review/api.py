"""The review HTTP API: each unit's inbox, claims and decisions."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy import func, select

from services.review import backlog as backlog_module
from services.review import decisions, routing
from services.review import schemas as s
from services.review.context import db
from services.review.models import OPEN_STATUSES, Case
from shared.auth import current_principal
from shared.db import utcnow
from shared.errors import Problem
from shared.levels import Level
from shared.paging import paginate

blp = Blueprint(
    "review", __name__, description="Inbox, claims, decisions, backlog and the route table"
)
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


@blp.get("/inbox")
@blp.arguments(s.InboxArgs, location="query")
@blp.response(200, s.InboxSchema)
@blp.doc(security=BEARER)
def inbox(args: dict[str, Any]) -> dict[str, Any]:
    """The open cases of the caller's unit, oldest first, with counts (an expired claim counts
    as pending: anyone of the unit may take the case)."""
    principal = current_principal()
    query = select(Case).where(
        Case.unit_code == principal.unit_code, Case.status.in_(OPEN_STATUSES)
    )
    if args.get("kind"):
        query = query.where(Case.kind == args["kind"])
    if args.get("point"):
        query = query.where(Case.point_code == args["point"])
    if args.get("older_than_hours") is not None:
        query = query.where(Case.opened_at <= utcnow() - timedelta(hours=args["older_than_hours"]))
    live = backlog_module.live_claim(utcnow())
    pending, claimed = db.session.execute(
        select(func.count().filter(~live), func.count().filter(live)).where(
            Case.unit_code == principal.unit_code, Case.status.in_(OPEN_STATUSES)
        )
    ).one()
    page = paginate(
        db.session, query.order_by(Case.opened_at, Case.id), args["page"], args["per_page"]
    )
    return {
        **page,
        "pending": pending,
        "claimed": claimed,
    }


@blp.get("/cases/<uuid:case_id>")
@blp.response(200, s.CaseSchema)
@blp.doc(security=BEARER)
def get_case(case_id: uuid.UUID) -> Case:
    """One case of the caller's unit, with its automatic checks."""
    return decisions.own_case(db.session, current_principal(), case_id)


@blp.post("/cases/<uuid:case_id>/claim")
@blp.response(200, s.CaseSchema)
@blp.alt_response(409, description="claimed by someone else, or no longer open")
@blp.doc(security=BEARER)
def claim(case_id: uuid.UUID) -> Case:
    """Claim a case for yourself (it expires after the configured time)."""
    seconds = current_app.config["CB_SETTINGS"].review_claim_seconds
    case = decisions.claim(db.session, current_principal(), case_id, seconds)
    db.session.commit()
    return case


@blp.post("/cases/<uuid:case_id>/release")
@blp.response(200, s.CaseSchema)
@blp.doc(security=BEARER)
def release(case_id: uuid.UUID) -> Case:
    """Give a claimed case back to the unit's inbox."""
    case = decisions.release(db.session, current_principal(), case_id)
    db.session.commit()
    return case


@blp.post("/cases/<uuid:case_id>/decision")
@blp.arguments(s.DecisionSchema)
@blp.response(200, s.CaseSchema)
@blp.alt_response(409, description="the case is no longer open, or claimed by someone else")
@blp.doc(security=BEARER)
def decide(body: dict[str, Any], case_id: uuid.UUID) -> Case:
    """Approve (pass up, or finish at the last level), reject or return (reason required)."""
    case = decisions.decide(
        db.session,
        current_principal(),
        case_id,
        body["decision"],
        body.get("reason"),
        body.get("rejected_rows"),
    )
    db.session.commit()
    return case


@blp.post("/cases/decisions")
@blp.arguments(s.BatchDecisionSchema)
@blp.response(200, s.BatchResultsSchema)
@blp.doc(security=BEARER)
def decide_many(body: dict[str, Any]) -> dict[str, Any]:
    """Decide many cases at once; each is decided or refused on its own, and reported with
    the status its single decision would have answered, and the case as it now stands
    (a refused one too, when it is a case of the caller's unit)."""
    principal = current_principal()
    results = []
    for item in body["decisions"]:
        try:
            with db.session.begin_nested():
                case = decisions.decide(
                    db.session,
                    principal,
                    item["case_id"],
                    item["decision"],
                    item.get("reason"),
                    item.get("rejected_rows"),
                )
                results.append({"case_id": item["case_id"], "status": 200, "case": case})
        except Problem as problem:
            results.append(
                {
                    "case_id": item["case_id"],
                    "status": problem.status,
                    "problem": problem.body(),
                    "case": decisions.seen_case(db.session, principal, item["case_id"]),
                }
            )
    db.session.commit()
    decided = sum(1 for r in results if r["status"] == 200)
    return {"decided": decided, "refused": len(results) - decided, "results": results}


@blp.get("/backlog")
@blp.arguments(s.BacklogArgs, location="query")
@blp.response(200, s.BacklogSchema)
@blp.doc(security=BEARER)
def backlog(args: dict[str, Any]) -> dict[str, Any]:
    """Pending, claimed and overdue cases and the oldest age, per level and per unit, for the
    caller's unit and every unit beneath it."""
    level = Level(args["level"]) if args.get("level") else None
    return backlog_module.backlog(db.session, current_principal(), level)


@blp.get("/routes")
@blp.arguments(s.RouteTableArgs, location="query")
@blp.response(200, s.RouteTableSchema)
@blp.alt_response(404, description="no route table of that version")
@blp.doc(security=BEARER)
def get_routes(args: dict[str, Any]) -> dict[str, Any]:
    """The route table (the current version, or ``?version=N``): how far each kind climbs."""
    current_principal()
    version, routes = routing.routes_of(db.session, args.get("version"))
    return {"version": version, "routes": routes}


@blp.put("/routes")
@blp.arguments(s.RouteTableSchema)
@blp.response(200, s.RouteTableSchema)
@blp.alt_response(403, description="not an administrator of the provincial centre")
@blp.doc(security=BEARER)
def put_routes(body: dict[str, Any]) -> dict[str, Any]:
    """Replace the route table with a new version (provincial-centre administrators only).
    Applications already in review keep the version they were routed under."""
    version = routing.replace_routes(db.session, current_principal(), body["routes"])
    db.session.commit()
    version, routes = routing.routes_of(db.session, version)
    return {"version": version, "routes": routes}

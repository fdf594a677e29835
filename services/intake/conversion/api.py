"""The conversion endpoints: the catalogue, the standards and their versions (read by anyone
signed in; kept by the administrators of the provincial centre or of a branch), the preview
and the application at the window, and a reversal."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from services.intake.api import BEARER, IDEMPOTENCY, idempotent
from services.intake.context import context, db
from services.intake.conversion import applications as conversions
from services.intake.conversion import catalogue, standards
from services.intake.conversion import schemas as s
from services.intake.conversion.models import ConversionStandard, StandardVersion
from services.intake.schemas import LedgerEntrySchema
from shared.auth import current_principal
from shared.errors import FieldError, NotFound, ValidationProblem

blp = Blueprint("conversion", __name__, description="Credit conversion: standards and applications")


def committed(value: Any) -> Any:
    db.session.commit()
    return value


# --- the catalogue --------------------------------------------------------------------------


@blp.get("/catalogue")
@blp.response(200, s.CatalogueSchema)
@blp.doc(security=BEARER)
def get_catalogue() -> dict[str, Any]:
    """What the rules point at: certificates, institutions, programmes, courses."""
    current_principal()
    return catalogue.everything(db.session)


@blp.put("/catalogue/<kind>/<code>")
@blp.response(200, s.EntrySchema)
@blp.alt_response(422, description="a programme's institution or a course's programme unknown")
@blp.doc(
    security=BEARER,
    parameters=[{"name": "kind", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": list(s.CATALOGUE_IN)}}],
)  # fmt: skip
def put_entry(kind: str, code: str) -> Any:
    """Add or correct one entry of the catalogue (the provincial centre's administrators)."""
    schema = s.CATALOGUE_IN.get(kind)
    if schema is None:
        raise ValidationProblem(
            "unknown catalogue", [FieldError("kind", f"one of {', '.join(s.CATALOGUE_IN)}", "path")]
        )
    if not s.CODE.regex.match(code):  # type: ignore[call-overload]
        raise ValidationProblem("not a catalogue code", [FieldError("code", s.CODE.error, "path")])
    values = _load(schema, request.get_json(silent=True))
    return committed(catalogue.put(db.session, current_principal(), kind, code, values))


def _load(schema: type[Any], body: Any) -> dict[str, Any]:
    from marshmallow import ValidationError

    from shared.errors import field_errors

    try:
        return dict(schema().load(body if isinstance(body, dict) else {}))
    except ValidationError as exc:
        raise ValidationProblem(
            "the request does not match its schema; see errors", field_errors(exc.messages)
        ) from None


# --- standards ------------------------------------------------------------------------------


def _standard_view(standard: ConversionStandard, on: date) -> dict[str, Any]:
    principal = current_principal()
    try:
        current: StandardVersion | None = standards.in_force(db.session, standard.code, on)
    except NotFound:  # no version in force that day: an answer, not a fault
        current = None
    return {
        "code": standard.code,
        "name": standard.name,
        "publisher_code": standard.publisher_code,
        "versions": standards.shown_versions(principal, standard),
        "in_force": current,
    }


@blp.get("/conversion-standards")
@blp.response(200, s.StandardListSchema)
@blp.doc(security=BEARER)
def list_standards() -> dict[str, Any]:
    """Every conversion standard, with the version in force today (drafts only to their
    publisher)."""
    today = conversions.today()
    found = standards.listing(db.session, current_principal())
    return {"items": [_standard_view(standard, today) for standard in found]}


@blp.post("/conversion-standards")
@blp.arguments(s.StandardInSchema)
@blp.response(201, s.StandardSchema)
@blp.alt_response(409, description="the code is taken")
@blp.doc(security=BEARER)
def create_standard(body: dict[str, Any]) -> Any:
    """A new standard of the caller's unit (the provincial centre, or a branch for its
    city), its first version a draft."""
    standard = standards.create(db.session, current_principal(), body)
    db.session.commit()
    return _standard_view(standard, conversions.today()), 201


@blp.get("/conversion-standards/<code>")
@blp.arguments(s.DayArgs, location="query")
@blp.response(200, s.StandardVersionSchema)
@blp.doc(security=BEARER)
def get_in_force(args: dict[str, Any], code: str) -> StandardVersion:
    """The version of the standard in force on ``on`` (today by default), with its rules."""
    current_principal()
    return standards.in_force(db.session, code, args.get("on") or conversions.today())


@blp.route("/conversion-standards/<code>/versions/<int:number>")
class VersionView(MethodView):
    # One rule for both methods: with two, werkzeug answers a PUT whose number is out of
    # range 405 (the GET rule's path matched) instead of 404.

    @blp.response(200, s.StandardVersionSchema)
    @blp.doc(security=BEARER)
    def get(self, code: str, number: int) -> StandardVersion:
        """One version of the standard, with its rules (a draft only to its publisher)."""
        return standards.version_of(db.session, current_principal(), code, number)

    @blp.arguments(s.StandardVersionInSchema)
    @blp.response(200, s.StandardVersionSchema)
    @blp.alt_response(409, description="not a draft: a published version never changes")
    @blp.doc(security=BEARER)
    def put(self, body: dict[str, Any], code: str, number: int) -> StandardVersion:
        """Replace a draft's dates, caps and rules (numbered in the order sent)."""
        edited = standards.edit(db.session, current_principal(), code, number, body)
        return committed(edited)  # type: ignore[no-any-return]


@blp.post("/conversion-standards/<code>/versions")
@blp.response(201, s.StandardVersionSchema)
@blp.alt_response(409, description="the standard has a draft already")
@blp.doc(security=BEARER)
def new_version(code: str) -> Any:
    """A new draft superseding the latest version, its caps and rules copied to be edited."""
    return committed(standards.new_draft(db.session, current_principal(), code)), 201


@blp.post("/conversion-standards/<code>/versions/<int:number>/publish")
@blp.response(200, s.StandardVersionSchema)
@blp.alt_response(422, description="the rule set contradicts itself: each fault named")
@blp.alt_response(409, description="not a draft")
@blp.doc(security=BEARER)
def publish_version(code: str, number: int) -> StandardVersion:
    """Publish a draft, checked whole: a rule set that contradicts itself is refused with
    each fault named (audited)."""
    return committed(standards.publish(db.session, current_principal(), code, number))  # type: ignore[no-any-return]


@blp.post("/conversion-standards/<code>/versions/<int:number>/retire")
@blp.arguments(s.RetireSchema)
@blp.response(200, s.StandardVersionSchema)
@blp.alt_response(409, description="not published")
@blp.doc(security=BEARER)
def retire_version(body: dict[str, str], code: str, number: int) -> StandardVersion:
    return committed(  # type: ignore[no-any-return]
        standards.retire(db.session, current_principal(), code, number, body["reason"])
    )


# --- conversion applications ----------------------------------------------------------------


@blp.post("/conversions/preview")
@blp.arguments(s.ConversionInSchema)
@blp.response(200, s.PreviewSchema)
@blp.alt_response(404, description="no such account within the caller's reach")
@blp.alt_response(409, description="the account is not open")
@blp.doc(security=BEARER)
def preview(body: dict[str, Any]) -> dict[str, Any]:
    """What the standard in force makes of the chosen outcomes for the target: the rules
    that apply, the credits each would give, the caps and any that would be hit; nothing is
    written."""
    weighed = conversions.weigh(
        db.session, context(), current_principal(), conversions.request_of(body)
    )
    standard = weighed.version.standard
    return {
        "standard": {
            "code": standard.code,
            "name": standard.name,
            "version": weighed.version.version,
        },
        "applied_on": weighed.applied_on,
        "outcomes": [
            {
                "entry_id": a.facts.entry_id,
                "kind": a.facts.kind,
                "title": a.facts.title,
                "rule": a.rule.number if a.rule else None,
                "credits": a.credits,
                "candidates": [
                    {"rule": rule.number, "credits": credits, "unmet": unmet}
                    for rule, credits, unmet in a.candidates
                ],
            }
            for a in weighed.applied
        ],
        "caps": weighed.caps,
        "credits": weighed.credits,
        "problems": [{"field": p.field, "reason": p.reason} for p in weighed.problems],
        "conflicts": [{"field": p.field, "reason": p.reason} for p in weighed.conflicts],
        "ok": not weighed.problems and not weighed.conflicts,
    }


@blp.post("/conversions")
@blp.arguments(s.ConversionInSchema)
@blp.response(201, description="the conversion application, as GET /applications/{id} shows it")
@blp.alt_response(404, description="no such account within the caller's reach")
@blp.alt_response(409, description="an outcome is held by another conversion")
@blp.doc(security=BEARER, parameters=[IDEMPOTENCY])
def apply(body: dict[str, Any]) -> Response:
    """Apply for the conversion: the version and rules pinned, the outcomes reserved until
    the final decision; it climbs the review tree like any application."""
    principal = current_principal()
    return idempotent(
        "conversions",
        body,
        lambda: conversions.apply(db.session, context(), principal, conversions.request_of(body)),
    )


@blp.post("/conversions/<uuid:application_id>/reversal")
@blp.arguments(s.ReversalInSchema)
@blp.response(201, LedgerEntrySchema)
@blp.alt_response(409, description="not an approved conversion, or reversed already")
@blp.doc(security=BEARER)
def reverse(body: dict[str, str], application_id: uuid.UUID) -> Any:
    """Take back an approved conversion (its outcome found false): a reversal entry, never
    an edit of the posting (administrators above the point; audited)."""
    entry = conversions.reverse(db.session, current_principal(), application_id, body["reason"])
    return committed(entry), 201

"""The catalogue the rules point at: certificates (by their catalogue code) and the targets
outcomes are converted into (institutions, their programmes, their courses). Anyone signed
in reads it; the provincial centre's administrators maintain it, and every change is
audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.conversion import audit
from services.intake.conversion.models import (
    CatalogueCertificate,
    CatalogueCourse,
    CatalogueInstitution,
    CatalogueProgramme,
)
from shared.auth import Principal
from shared.errors import FieldError, Forbidden, NotFound, ValidationProblem

KINDS: dict[str, Any] = {
    "certificates": CatalogueCertificate,
    "institutions": CatalogueInstitution,
    "programmes": CatalogueProgramme,
    "courses": CatalogueCourse,
}
PARENTS = {
    "programmes": ("institution_code", "institutions"),
    "courses": ("programme_code", "programmes"),
}


def everything(session: Session) -> dict[str, list[Any]]:
    return {
        kind: list(session.scalars(select(model).order_by(model.code)))
        for kind, model in KINDS.items()
    }


def require_curator(principal: Principal) -> None:
    if principal.unit_level != "province" or not principal.has_any("admin"):
        raise Forbidden("the catalogue is kept by the provincial centre's administrators")


def put(
    session: Session, principal: Principal, kind: str, code: str, values: dict[str, Any]
) -> Any:
    """Create or correct one entry of the catalogue (audited)."""
    require_curator(principal)
    model = KINDS.get(kind)
    if model is None:
        raise NotFound(f"catalogue {kind} not found")
    if kind in PARENTS:
        column, parent_kind = PARENTS[kind]
        if session.get(KINDS[parent_kind], values[column]) is None:
            raise ValidationProblem(
                f"no such {parent_kind[:-1]} in the catalogue",
                [FieldError(column, f"{values[column]} is not in the catalogue")],
            )
    entry = session.get(model, code)
    created = entry is None
    if entry is None:
        entry = model(code=code)
        session.add(entry)
    for name, value in values.items():
        setattr(entry, name, value)
    session.flush()
    audit.record(
        session, principal, f"catalogue.{kind}.{'added' if created else 'changed'}", code, values
    )
    return entry


def known(session: Session, kind: str, code: str | None) -> bool:
    return code is not None and session.get(KINDS[kind], code) is not None


def certificate_fault(
    session: Session, code: str, outcome_kind: str, level: str
) -> tuple[str, str] | None:
    """What is wrong with a deposited certificate's catalogue code and level (the field and
    the reason), or None."""
    found = session.get(CatalogueCertificate, code)
    if found is None or found.outcome_kind != outcome_kind:
        return "catalogue_code", f"{code} is not a {outcome_kind} of the conversion catalogue"
    if found.levels and level not in found.levels:
        return "level", f"{code} is issued at {'、'.join(found.levels)}, not {level}"
    return None


def names(session: Session, institution: str, programme: str, course: str | None) -> dict[str, Any]:
    """The target's entries, named, as an application records them."""
    found = {
        "institution": session.get(CatalogueInstitution, institution),
        "programme": session.get(CatalogueProgramme, programme),
        "course": session.get(CatalogueCourse, course) if course else None,
    }
    return {
        key: ({"code": entry.code, "name": entry.name} if entry else None)
        for key, entry in found.items()
    }

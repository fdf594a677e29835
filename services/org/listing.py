"""Listing acceptance points from a CSV file: each row on its own, good rows kept."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from services.org.models import Unit
from services.org.points import list_point
from shared.auth import Principal
from shared.errors import FieldError, Forbidden, NotFound, Problem, ValidationProblem

COLUMNS = ("name", "parent_code", "point_kind", "point_tier", "address")
REQUIRED = ("name", "parent_code", "point_kind", "point_tier")
MAX_ROWS = 5000


@dataclass
class RowError:
    row: int
    field: str
    reason: str


@dataclass
class BatchResult:
    created: list[Unit] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def read_rows(raw: bytes) -> list[dict[str, str]]:
    """Decode and parse the file; a file-level fault refuses the whole file, naming it."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationProblem(
            "the file must be UTF-8 encoded CSV", [FieldError("file", "not UTF-8", "body")]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        errors = [FieldError(c, "required column is missing", "body") for c in missing]
        errors += [FieldError(c, "unknown column", "body") for c in unknown]
        raise ValidationProblem(f"the header must use the columns {', '.join(COLUMNS)}", errors)
    rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows:
        raise ValidationProblem("the file has no rows", [FieldError("file", "empty", "body")])
    if len(rows) > MAX_ROWS:
        raise ValidationProblem(
            f"at most {MAX_ROWS} rows per file", [FieldError("file", f"{len(rows)} rows", "body")]
        )
    return rows


def list_points_from_csv(session: Session, actor: Principal, raw: bytes) -> BatchResult:
    """List every good row of the file; report each bad row with its line, field and reason."""
    from services.org.schemas import PointListingSchema

    if not actor.has_any("bureau"):
        raise Forbidden("only an education bureau's account lists acceptance points")
    result, schema = BatchResult(), PointListingSchema()
    for line, row in enumerate(read_rows(raw), start=2):
        data = {k: v for k, v in row.items() if v != "" or k in REQUIRED}
        problems = schema.validate(data)
        if problems:
            result.errors += [RowError(line, f, "; ".join(m)) for f, m in sorted(problems.items())]
            continue
        try:
            with session.begin_nested():
                result.created.append(list_point(session, actor, **schema.load(data)))
        except (ValidationProblem, NotFound, Problem) as exc:
            errs = exc.errors or [
                FieldError("parent_code" if isinstance(exc, NotFound) else "_row", exc.detail)
            ]
            result.errors += [RowError(line, e.field, e.reason) for e in errs]
    return result

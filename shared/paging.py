"""Page-number pagination shared by every list endpoint: ``?page=1&per_page=20``."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shared.schemas import Strict

MAX_PER_PAGE = 100


class PageArgs(Strict):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """A ``{items, page, per_page, total}`` schema around ``item``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item)),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "total": fields.Integer(),
        },
        name=name,
    )


def paginate(
    session: Session, query: Select[Any], page: int, per_page: int, rows: bool = False
) -> dict[str, Any]:
    """Run ``query`` for one page (entities, or ``rows`` as mappings) and count all its rows."""
    if query._group_by_clauses:
        total = session.execute(select(func.count()).select_from(query.order_by(None).subquery()))
    else:
        total = session.execute(query.with_only_columns(func.count()).order_by(None))
    paged = session.execute(query.limit(per_page).offset((page - 1) * per_page))
    items = paged.mappings().all() if rows else paged.scalars().all()
    return {"items": items, "page": page, "per_page": per_page, "total": total.scalar_one()}

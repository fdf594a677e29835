"""Learners' accounts for an import's chunk: matched by document, or opened collectively.

(The SQL text built here (``noqa: S608``) joins this module's own names, never input.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, any_, bindparam, func, select, text
from sqlalchemy.orm import Session

from services.intake.context import IntakeContext
from services.intake.imports.rows import RowRecord
from services.intake.learners import name_hash
from services.intake.models import Account, AccountStatus, Import, Learner
from shared.db import copy_rows, stage
from shared.pii import mask_document_number, mask_name, mask_phone


@dataclass(frozen=True)
class Holder:
    """A document's learner and account, as a chunk needs them."""

    learner_id: int
    name_hash: str
    account_id: int
    status: AccountStatus
    number: str | None


LEARNER_COLUMNS = (
    "document_type", "document_enc", "document_hash", "document_mask", "name_enc",
    "name_hash", "name_mask", "gender", "birth_date", "phone_enc", "phone_hash", "phone_mask",
    "unit_code", "unit_path", "created_by",
)  # fmt: skip


def digests(values: Any) -> Any:
    """Keyed hashes (hex digests, never a comma in them) as one array parameter, not one
    parameter per value: a chunk names thousands. Sent as one text that PostgreSQL splits
    (string_to_array is immutable, so the planner folds it into the array once): psycopg's
    dumping of a list of 5,000 strings cost the worker 25 ms a chunk, this text 1 ms."""
    return func.string_to_array(bindparam(None, ",".join(values), type_=Text), ",")


def accounts_for(
    session: Session,
    ctx: IntakeContext,
    imported: Import,
    records: list[RowRecord],
    hashes: dict[int, str],
) -> tuple[dict[str, Holder], int]:
    """Each document's learner and open account, matched by document or opened now; and
    how many accounts were opened."""
    wanted, opened_count = set(hashes.values()), 0
    found = _by_hash(session, wanted)
    new: dict[str, RowRecord] = {}
    for record in records:
        if hashes[record.row] not in found:
            new.setdefault(hashes[record.row], record)
    if new:
        opened = _open(session, ctx, imported, new)
        opened_count += len(opened)
        found.update(opened)
        if len(opened) < len(new):  # some opened by another chunk at this moment: theirs
            found.update(_by_hash(session, set(new) - set(opened)))
    closed = [h.account_id for h in found.values() if h.status == AccountStatus.CLOSED]
    if closed:  # an opening refused earlier: the import opens the account this time
        opened_count += _reopen(session, imported, closed)
        found.update(_by_hash(session, {h for h, v in found.items() if v.account_id in closed}))
    return found, opened_count


def _by_hash(session: Session, hashes: set[str]) -> dict[str, Holder]:
    if not hashes:
        return {}
    rows = session.execute(
        select(
            Learner.document_hash,
            Learner.id,
            Learner.name_hash,
            Account.id,
            Account.status,
            Account.number,
        )
        .join(Account, Account.learner_id == Learner.id)
        .where(Learner.document_hash == any_(digests(hashes)))
    )
    return {row[0]: Holder(*row[1:]) for row in rows}


# A new account's number, in the form an approved opening gets (decisions._account_number).
ACCOUNT_NUMBER = "'ZJ' || :year || lpad(nextval('account_number_seq')::text, 8, '0')"


def _open(
    session: Session, ctx: IntakeContext, imported: Import, new: dict[str, RowRecord]
) -> dict[str, Holder]:
    """Learners and open accounts for documents the bank has not seen; return those opened.
    A document another chunk opened at this moment is left to it (the unique hash decides,
    and that chunk's transaction opens its account)."""
    cipher = ctx.cipher
    stage(session, "learners", "staged_learners", LEARNER_COLUMNS)
    copy_rows(
        session,
        "staged_learners",
        LEARNER_COLUMNS,
        (
            (
                r.identity.document_type.value,
                cipher.encrypt(r.identity.number, "learner.document_number"),
                doc_hash,
                mask_document_number(r.identity.number),
                cipher.encrypt(r.name, "learner.name"),
                name_hash(ctx, r.name),
                mask_name(r.name),
                r.identity.gender,
                r.identity.birth_date,
                cipher.encrypt(r.phone, "learner.phone"),
                cipher.lookup_hash("phone", r.phone),
                mask_phone(r.phone),
                imported.unit_code,
                imported.unit_path,
                imported.uploaded_by_id,
            )
            for doc_hash, r in new.items()
        ),
    )
    columns = ", ".join(LEARNER_COLUMNS)
    opened = session.execute(
        text(
            f"WITH created AS (INSERT INTO learners ({columns}) SELECT {columns} "  # noqa: S608
            "FROM staged_learners ORDER BY document_hash "  # one lock order for every chunk
            "ON CONFLICT (document_hash) DO NOTHING "
            "RETURNING id, document_hash, name_hash), "
            "opened AS (INSERT INTO accounts (learner_id, number, status, unit_code, unit_path, "
            "opened_at, opened_by_import_id) "
            f"SELECT id, {ACCOUNT_NUMBER}, 'open', :unit_code, :unit_path, now(), :import_id "
            "FROM created RETURNING id, learner_id, number) "
            "SELECT c.document_hash, c.id, c.name_hash, o.id, o.number "
            "FROM created c JOIN opened o ON o.learner_id = c.id"
        ),
        {
            "year": str(datetime.now(UTC).year),
            "unit_code": imported.unit_code,
            "unit_path": imported.unit_path,
            "import_id": imported.id,
        },
    ).all()
    return {
        doc_hash: Holder(learner_id, hashed, account_id, AccountStatus.OPEN, number)
        for doc_hash, learner_id, hashed, account_id, number in opened
    }


def _reopen(session: Session, imported: Import, account_ids: list[int]) -> int:
    result = session.execute(
        text(
            f"UPDATE accounts SET status = 'open', number = {ACCOUNT_NUMBER}, "  # noqa: S608
            "opened_at = now(), opened_by_import_id = :import_id "
            "WHERE id = ANY(:ids) AND status = 'closed'"
        ),
        {"year": str(datetime.now(UTC).year), "import_id": imported.id, "ids": account_ids},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

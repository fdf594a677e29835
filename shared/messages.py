"""The messages as their receivers hold them once loaded by their contract
(``shared.contracts``): one TypedDict per contract, so that mypy checks every field a
receiver reads, and a field renamed in a contract is found wherever it is used."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict, overload

from shared import contracts


class BatchSummary(TypedDict):
    import_id: uuid.UUID
    rows_total: int
    records: int
    invalid: int
    duplicate: int
    accounts_opened: int
    hours_total: Decimal
    record_rows: list[list[int]]


class ReviewRequest(TypedDict):
    application_id: uuid.UUID
    round: int
    level: str
    kind: str
    outcome_kind: str | None
    unit_code: str
    unit_path: str
    taken_by_id: int
    credits: Decimal | None
    hours: Decimal | None
    certificate_number: str | None
    attachments: list[str]
    dates: dict[str, date]
    submitted_at: datetime
    withdrawn: bool
    batch: BatchSummary | None
    expert: bool


class OpenCase(ReviewRequest):
    message_id: uuid.UUID
    route_version: int | None
    top_level: str | None


class Reconcile(TypedDict):
    message_id: uuid.UUID
    applications: list[ReviewRequest]


class WithdrawApplication(TypedDict):
    message_id: uuid.UUID
    application_id: uuid.UUID
    round: int
    withdrawn_by_id: int
    withdrawn_at: datetime


class RejectedRow(TypedDict):
    row: int
    reason: str


class ApplyDecision(TypedDict):
    message_id: uuid.UUID
    application_id: uuid.UUID
    round: int
    level: str
    outcome: str  # passed_up, approved, rejected, returned
    decided_by_id: int
    decided_by: str
    decided_at: datetime
    unit_code: NotRequired[str | None]
    unit_name: NotRequired[str | None]
    reason: str | None
    rejected_rows: list[RejectedRow]


class PrepareImport(TypedDict):
    message_id: uuid.UUID
    import_id: uuid.UUID


class ReadImportChunk(TypedDict):
    message_id: uuid.UUID
    import_id: uuid.UUID
    chunk: int


class NotifyEvent(TypedDict):
    message_id: uuid.UUID
    event_type: str
    occurred_at: datetime
    unit_code: str
    unit_path: str | None
    recipient_staff_ids: list[int]
    data: dict[str, Any]
    sealed: dict[str, str]


@overload
def load(task: Literal["review.open_case"], payload: dict[str, Any]) -> OpenCase: ...
@overload
def load(task: Literal["review.reconcile"], payload: dict[str, Any]) -> Reconcile: ...
@overload
def load(
    task: Literal["review.withdraw_application"], payload: dict[str, Any]
) -> WithdrawApplication: ...
@overload
def load(task: Literal["intake.apply_decision"], payload: dict[str, Any]) -> ApplyDecision: ...
@overload
def load(task: Literal["intake.prepare_import"], payload: dict[str, Any]) -> PrepareImport: ...
@overload
def load(task: Literal["intake.read_import_chunk"], payload: dict[str, Any]) -> ReadImportChunk: ...
@overload
def load(task: Literal["notify.deliver"], payload: dict[str, Any]) -> NotifyEvent: ...
def load(task: str, payload: dict[str, Any]) -> Any:
    """The message of ``task``, loaded and checked by its contract (``ContractError``)."""
    return contracts.load(task, payload)

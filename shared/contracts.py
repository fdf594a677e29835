"""Message contracts: the schema of every message that crosses between services.

The sender validates before the message is written to its outbox; the receiver validates
again before acting. Messages carry ids and codes, never personal data in clear: a secret
that must travel is sealed for its receiver (see ``shared.sealing``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from shared.levels import Level
from shared.schemas import Strict


class ContractError(ValueError):
    def __init__(self, task_name: str, messages: Any) -> None:
        super().__init__(f"{task_name}: message breaks its contract: {messages}")
        self.task_name = task_name
        self.messages = messages

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by its own arguments: Celery hands a task's exception to ``task_failure``
        # only once it survives pickling, and would otherwise pass a stand-in that is no
        # ContractError (which shared.poison records a breach by).
        return (ContractError, (self.task_name, self.messages))


class Envelope(Strict):
    message_id = fields.UUID(required=True)


NOTIFY_EVENT_TYPES = (
    "org.activation_code_allocated",
    "org.acceptance_point_operating",
    "org.acceptance_point_suspended",
    "org.acceptance_point_reinstated",
    "intake.application_decided",
    "review.application_decided",
    "review.cases_overdue",
    "review.daily_digest",
)


class NotifyEvent(Envelope):
    """``notify.deliver``: something happened that people must be told about."""

    event_type = fields.String(required=True, validate=validate.OneOf(NOTIFY_EVENT_TYPES))
    occurred_at = fields.AwareDateTime(required=True)
    unit_code = fields.String(required=True, validate=validate.Length(1, 32))
    # The unit's path (/ZJ/B01/S001/AP000001/), so deliveries are scoped like everything else.
    unit_path = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 120))
    recipient_staff_ids = fields.List(fields.Integer(), load_default=list)
    # Plain, non-personal facts for the templates (unit names, states, expiry times).
    data = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)
    # Secrets and addresses sealed with notify's public key, by name ("activation_code",
    # "phone"): never in clear in a queue.
    sealed = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


REVIEW_LEVELS = tuple(level.value for level in Level)
APPLICATION_KINDS = ("account_opening", "deposit", "conversion", "certificate", "import")
OUTCOME_KINDS = (
    "academic_credit",
    "vocational_certificate",
    "skill_certificate",
    "social_training",
    "competition_award",
    "other",
)
DECISION_OUTCOMES = ("passed_up", "approved", "rejected", "returned")


def _amount() -> fields.Decimal:
    return fields.Decimal(places=2, as_string=True, allow_none=True, load_default=None)


def amount(value: Any) -> str | None:
    """An amount (credits, hours) as messages carry it: a string with two decimals."""
    return None if value in (None, "") else f"{Decimal(str(value)):.2f}"


def review_request(
    *,
    application_id: Any,
    round: int,
    level: str,
    kind: str,
    outcome_kind: str | None,
    unit_code: str,
    unit_path: str,
    taken_by_id: int,
    credits: Any,
    hours: Any,
    certificate_number: str | None,
    attachments: list[str],
    dates: dict[str, str],
    submitted_at: datetime,
    batch: dict[str, Any] | None = None,
    expert: bool = False,
) -> dict[str, Any]:
    """A ``ReviewRequest``, JSON-ready: what intake sends to the first level and each level
    sends to the next (``OpenCase``), built in one place."""
    return {
        "application_id": str(application_id),
        "round": round,
        "level": Level(level).value,
        "kind": kind,
        "outcome_kind": outcome_kind,
        "unit_code": unit_code,
        "unit_path": unit_path,
        "taken_by_id": taken_by_id,
        "credits": amount(credits),
        "hours": amount(hours),
        "certificate_number": certificate_number,
        "attachments": list(attachments),
        "dates": dates,
        "submitted_at": submitted_at.isoformat(),
        **({"batch": batch} if batch else {}),
        **({"expert": True} if expert else {}),
    }


class BatchSummary(Strict):
    """An import reviewed as one batch: its figures and the row numbers of its records as
    [first, last] runs (what a reviewer may reject row by row). No learner is named: the
    reviewer's page reads sample rows from intake, masked."""

    import_id = fields.UUID(required=True)
    rows_total = fields.Integer(required=True, validate=validate.Range(min=1))
    records = fields.Integer(required=True, validate=validate.Range(min=1))
    invalid = fields.Integer(required=True, validate=validate.Range(min=0))
    duplicate = fields.Integer(required=True, validate=validate.Range(min=0))
    accounts_opened = fields.Integer(required=True, validate=validate.Range(min=0))
    hours_total = fields.Decimal(required=True, as_string=True, places=2)
    record_rows = fields.List(
        fields.List(fields.Integer(validate=validate.Range(min=2)), validate=validate.Length(2, 2)),
        required=True,
        validate=validate.Length(min=1),
    )


class ReviewRequest(Strict):
    """An application's round as review needs it: what routing and the automatic checks
    need, and no personal data (the learner is named by the application only)."""

    application_id = fields.UUID(required=True)
    round = fields.Integer(required=True, validate=validate.Range(min=1))
    level = fields.String(required=True, validate=validate.OneOf(REVIEW_LEVELS))
    kind = fields.String(required=True, validate=validate.OneOf(APPLICATION_KINDS))
    outcome_kind = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(OUTCOME_KINDS)
    )
    unit_code = fields.String(required=True, validate=validate.Length(1, 16))
    unit_path = fields.String(required=True, validate=validate.Length(1, 120))
    taken_by_id = fields.Integer(required=True)
    credits = _amount()
    hours = _amount()
    certificate_number = fields.String(allow_none=True, load_default=None)
    attachments = fields.List(fields.String(validate=validate.Length(equal=64)), load_default=list)
    # The outcome's own dates by name (start_date, end_date, completed_on, issued_on...).
    dates = fields.Dict(keys=fields.String(), values=fields.Date(), load_default=dict)
    submitted_at = fields.AwareDateTime(required=True)
    # In a reconciliation only: intake withdrew this round (its cases must be closed).
    withdrawn = fields.Boolean(load_default=False)
    # An import's batch (kind "import") only.
    batch = fields.Nested(BatchSummary, allow_none=True, load_default=None)
    # A conversion outside any rule (an expert judgement): it climbs one level higher.
    expert = fields.Boolean(load_default=False)


class OpenCase(Envelope, ReviewRequest):
    """``review.open_case`` on a level's queue: open a case for this application and round."""

    # Sent on by review's own level below: the route version the round was first routed under
    # and the last level it climbs to, so the next case is opened without looking them up
    # again. Intake's message to the first level names neither (they are found then).
    route_version = fields.Integer(
        allow_none=True, load_default=None, validate=validate.Range(min=1)
    )
    top_level = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(REVIEW_LEVELS)
    )


class Reconcile(Envelope):
    """``review.reconcile``: intake's applications in review that have waited a while; review
    opens the first case of any that has none, and re-sends what a lost message left undone."""

    applications = fields.List(
        fields.Nested(ReviewRequest), required=True, validate=validate.Length(1, 500)
    )


class WithdrawApplication(Envelope):
    """``review.withdraw_application``: the application was withdrawn; close its open case."""

    application_id = fields.UUID(required=True)
    round = fields.Integer(required=True, validate=validate.Range(min=1))
    withdrawn_by_id = fields.Integer(required=True)
    withdrawn_at = fields.AwareDateTime(required=True)


MAX_REJECTED_ROWS = 5000


class RejectedRow(Strict):
    row = fields.Integer(required=True, validate=validate.Range(min=2))
    reason = fields.String(required=True, validate=validate.Length(1, 200))


class ApplyDecision(Envelope):
    """``intake.apply_decision``: a review level decided. ``outcome`` says what follows:
    ``passed_up`` (the level above decides next), ``returned`` (the round ends, the window
    corrects), ``approved`` or ``rejected`` (the application's final decision)."""

    application_id = fields.UUID(required=True)
    round = fields.Integer(required=True, validate=validate.Range(min=1))
    level = fields.String(required=True, validate=validate.OneOf(REVIEW_LEVELS))
    outcome = fields.String(required=True, validate=validate.OneOf(DECISION_OUTCOMES))
    decided_by_id = fields.Integer(required=True)
    decided_by = fields.String(required=True, validate=validate.Length(1, 64))
    decided_at = fields.AwareDateTime(required=True)
    # The unit that decided (its code, and its name as the decider's token gave it).
    unit_code = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 16))
    unit_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 200))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))
    # A batch's rows this level rejected (the rest of the batch goes on).
    rejected_rows = fields.List(
        fields.Nested(RejectedRow),
        load_default=list,
        validate=validate.Length(max=MAX_REJECTED_ROWS),
    )


class PrepareImport(Envelope):
    """``intake.prepare_import`` on ``intake.imports``: read a received import's rows once."""

    import_id = fields.UUID(required=True)


class ReadImportChunk(Envelope):
    """``intake.read_import_chunk`` on ``intake.imports``: check and take one chunk's rows."""

    import_id = fields.UUID(required=True)
    chunk = fields.Integer(required=True, validate=validate.Range(min=0))


CONTRACTS: dict[str, type[Schema]] = {
    "notify.deliver": NotifyEvent,
    "review.open_case": OpenCase,
    "review.withdraw_application": WithdrawApplication,
    "review.reconcile": Reconcile,
    "intake.apply_decision": ApplyDecision,
    "intake.prepare_import": PrepareImport,
    "intake.read_import_chunk": ReadImportChunk,
}
# One instance each, made once: a schema keeps no state between calls, and building one
# costs more than checking a message with it (about 0.15 ms, on every message sent and read).
_SCHEMAS: dict[str, Schema] = {name: contract() for name, contract in CONTRACTS.items()}


def check(task_name: str, payload: dict[str, Any]) -> None:
    """Sender side: refuse to send a message its contract does not allow."""
    schema = _SCHEMAS.get(task_name)
    if schema is None:
        raise ContractError(task_name, "no contract is declared for this task")
    errors = schema.validate(payload)
    if errors:
        raise ContractError(task_name, errors)


def load(task_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Receiver side: the message, typed, or ``ContractError``."""
    try:
        return _SCHEMAS[task_name].load(payload)  # type: ignore[no-any-return]
    except KeyError:
        raise ContractError(task_name, "no contract is declared for this task") from None
    except ValidationError as exc:
        raise ContractError(task_name, exc.messages) from exc

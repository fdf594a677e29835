"""Message contracts: the schema of every message that crosses between services.

The sender validates before the message is written to its outbox; the receiver validates
again before acting. Messages carry ids and codes, never personal data in clear: a secret
that must travel is sealed for its receiver (see ``shared.sealing``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate


class ContractError(ValueError):
    def __init__(self, task_name: str, messages: Any) -> None:
        super().__init__(f"{task_name}: message breaks its contract: {messages}")
        self.task_name = task_name
        self.messages = messages


class Envelope(Schema):
    class Meta:
        unknown = RAISE

    message_id = fields.UUID(required=True)


NOTIFY_EVENT_TYPES = (
    "org.activation_code_allocated",
    "org.acceptance_point_operating",
    "org.acceptance_point_suspended",
    "org.acceptance_point_reinstated",
)


class NotifyEvent(Envelope):
    """``notify.deliver``: something happened that people must be told about."""

    event_type = fields.String(required=True, validate=validate.OneOf(NOTIFY_EVENT_TYPES))
    occurred_at = fields.AwareDateTime(required=True)
    unit_code = fields.String(required=True, validate=validate.Length(1, 32))
    recipient_staff_ids = fields.List(fields.Integer(), load_default=list)
    # Plain, non-personal facts for the templates (unit names, states, expiry times).
    data = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)
    # Secrets sealed with notify's public key, by name (e.g. "activation_code").
    sealed = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


CONTRACTS: dict[str, type[Schema]] = {
    "notify.deliver": NotifyEvent,
}


def check(task_name: str, payload: dict[str, Any]) -> None:
    """Sender side: refuse to send a message its contract does not allow."""
    schema = CONTRACTS.get(task_name)
    if schema is None:
        raise ContractError(task_name, "no contract is declared for this task")
    errors = schema().validate(payload)
    if errors:
        raise ContractError(task_name, errors)


def load(task_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Receiver side: the message, typed, or ``ContractError``."""
    try:
        return CONTRACTS[task_name]().load(payload)  # type: ignore[no-any-return]
    except KeyError:
        raise ContractError(task_name, "no contract is declared for this task") from None
    except ValidationError as exc:
        raise ContractError(task_name, exc.messages) from exc

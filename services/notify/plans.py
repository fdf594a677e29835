"""Who hears of an event, on which channel: the deliveries an event plans.

- staff named by the sender (``recipient_staff_ids``): their inbox;
- a role at the event's unit, by event type (the window staff of the point that took an
  application hear its outcome; a unit's reviewers hear of its overdue cases): that unit's
  inbox for the role;
- whoever's phone number came sealed for notify (a learner, a point's new administrator): an
  SMS; an e-mail address: a mail. Other sealed values (an activation code) stay sealed in the
  delivery and are put into the text only when it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notify import rendering
from services.notify.models import Channel
from shared import messages

UNIT_ROLES: dict[str, tuple[str, ...]] = {
    "review.application_decided": ("service",),
    "review.cases_overdue": ("reviewer",),
    "review.daily_digest": ("reviewer",),
}


# Whose sealed phone number or e-mail address an event carries.
CONTACT = {
    "intake.application_decided": "learner",
    "org.activation_code_allocated": "point_admin",
}
ADDRESSES = ("phone", "email")


@dataclass(frozen=True)
class Planned:
    channel: Channel
    recipient: str
    staff_id: int | None = None
    unit_code: str | None = None
    role: str | None = None
    sealed_address: str | None = None


def plan(event: messages.NotifyEvent) -> list[Planned]:
    event_type, unit = event["event_type"], event["unit_code"]
    planned = [
        Planned(Channel.INBOX, f"staff:{staff_id}", staff_id=staff_id)
        for staff_id in sorted(set(event["recipient_staff_ids"]))
    ]
    planned += [
        Planned(Channel.INBOX, f"unit:{unit}:{role}", unit_code=unit, role=role)
        for role in UNIT_ROLES.get(event_type, ())
    ]
    who = CONTACT.get(event_type, "contact")
    phone = event["sealed"].get("phone")
    if phone:
        planned.append(Planned(Channel.SMS, who, sealed_address=phone))
    email = event["sealed"].get("email")
    if email:
        planned.append(Planned(Channel.EMAIL, who, sealed_address=email))
    # Only what has a template is planned: an event no one is meant to hear of plans nothing.
    return [p for p in planned if rendering.has_template(event_type, p.channel.value)]

"""What the chaos harness (bench/chaos.py) asserts once the system has settled, read from the
four databases directly (the harness may; services never read each other's tables), the
SMS files, the SMTP sink and Redis.

Each invariant is its own function taking the ``Sources`` and returning its violations,
each naming the ids at fault, so that a report says what broke. "Legitimately pending":

- an application ``returned`` waits for the window (a person) to resubmit it;
- an application ``in_review`` whose current round has an open case (pending or claimed) in
  review waits for a reviewer (a person). The harness's reviewers decide every case they
  see while the system settles, so this remains only if the settling ran out of time.

Anything else not final (``in_review`` with no open case of its round) was lost.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

FINAL = ("approved", "rejected", "withdrawn")
LEARNER_TOLD = ("approved", "rejected", "returned")  # the decisions intake tells the learner
QUEUE_SERVICE = {
    "org": "org",
    "intake": "intake",
    "intake.imports": "intake",
    "review.acceptance_point": "review",
    "review.subcentre": "review",
    "review.branch": "review",
    "review.province": "review",
    "notify": "notify",
}


@dataclass
class Sources:
    """Where the checker reads: each service's database (a psycopg DSN, straight to the
    server, not through the fault proxy), the SMS folder, the SMTP sink's Message-IDs, Redis,
    and what the harness itself knows it did."""

    dsn: dict[str, str]
    sms_dir: Path
    smtp_ids: list[str]
    redis_url: str
    accepted: dict[str, list[str]]  # kind -> ids the APIs answered 2xx for
    poison: Counter[tuple[str, str]] = field(default_factory=Counter)  # (queue, reason) sent
    poison_digests: set[str] = field(default_factory=set)  # of the bytes pushed raw
    refused_events: int = 0  # notify's own record of contract breaches, as sent

    def rows(self, service: str, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn[service]) as conn:
            return list(conn.execute(sql).fetchall())


Violations = list[str]


def accepted_applications_exist(src: Sources) -> Violations:
    """Every application an API accepted (201) is in intake's database."""
    known = {str(r[0]) for r in src.rows("intake", "SELECT id FROM applications")}
    return [
        f"accepted {kind} {app_id} is not in intake"
        for kind in ("opening", "deposit")
        for app_id in src.accepted.get(kind, [])
        if app_id not in known
    ]


def final_or_legitimately_pending(src: Sources) -> Violations:
    """Every application is final, returned, or in review with an open case of its round."""
    open_cases = {
        (str(a), int(r))
        for a, r in src.rows(
            "review",
            "SELECT application_id, round FROM cases WHERE status IN ('pending', 'claimed')",
        )
    }
    out = []
    for app_id, status, rnd in src.rows("intake", "SELECT id, status, round FROM applications"):
        if status in (*FINAL, "returned"):
            continue
        if status == "in_review" and (str(app_id), int(rnd)) in open_cases:
            continue
        out.append(f"application {app_id} is {status} (round {rnd}) with no open case: lost")
    return out


def intake_agrees_with_review(src: Sources) -> Violations:
    """A final or returned application has the matching decision in review, in its round."""
    decided: dict[tuple[str, int], set[str]] = {}
    for app_id, rnd, decision in src.rows(
        "review", "SELECT application_id, round, decision FROM cases WHERE status = 'decided'"
    ):
        decided.setdefault((str(app_id), int(rnd)), set()).add(str(decision))
    wanted = {"approved": "approve", "rejected": "reject", "returned": "return"}
    out = []
    for app_id, status, rnd in src.rows("intake", "SELECT id, status, round FROM applications"):
        if status in wanted and wanted[status] not in decided.get((str(app_id), int(rnd)), set()):
            out.append(f"application {app_id} is {status} but review decided no {wanted[status]}")
    return out


def one_case_per_application_level_round(src: Sources) -> Violations:
    return [
        f"application {a} has {n} cases at {level} in round {rnd}"
        for a, level, rnd, n in src.rows(
            "review",
            "SELECT application_id, level, round, count(*) FROM cases"
            " GROUP BY 1, 2, 3 HAVING count(*) > 1",
        )
    ]


def each_approval_posted_once(src: Sources) -> Violations:
    """One ledger entry per approved deposit and per approved import record; none else."""
    out = []
    posted = Counter(
        str(a)
        for (a,) in src.rows(
            "intake",
            "SELECT application_id FROM ledger_entries"
            " WHERE application_id IS NOT NULL AND entry_kind = 'deposit'",
        )
    )
    for app_id, status in src.rows(
        "intake", "SELECT id, status FROM applications WHERE kind = 'deposit'"
    ):
        want = 1 if status == "approved" else 0
        if posted.get(str(app_id), 0) != want:
            out.append(f"deposit {app_id} ({status}) posted {posted.get(str(app_id), 0)} times")
    records = Counter(
        int(r)
        for (r,) in src.rows(
            "intake",
            "SELECT import_record_id FROM ledger_entries WHERE import_record_id IS NOT NULL",
        )
    )
    for rec_id, status in src.rows("intake", "SELECT id, status FROM import_records"):
        want = 1 if status == "approved" else 0
        if records.get(int(rec_id), 0) != want:
            out.append(f"import record {rec_id} ({status}) posted {records.get(int(rec_id))} times")
    return out


def every_learner_notice_delivered_once(src: Sources) -> Violations:
    """Each decision intake applied and tells the learner is one notify event; each of its
    learner deliveries is sent: one SMS file; at the sink, one e-mail per attempt at most.

    A worker killed between the SMTP server's 250 and the commit of the outcome cannot know
    the message went, and sends it again when its claim's lease ends, under the same
    Message-ID and with a second attempt counted. E-mail cannot be exactly once; what must
    hold is that every copy is one the record shows was possible (more copies than attempts
    would be a repeat nobody counted)."""
    out = []
    told = Counter(
        (str(a), str(t))
        for a, t in src.rows(
            "intake",
            "SELECT e.application_id, e.type FROM application_events e"
            " JOIN applications a ON a.id = e.application_id"
            " WHERE a.kind <> 'import' AND e.type IN ('approved', 'rejected', 'returned')",
        )
    )
    events = Counter(
        (str(data.get("application_id")), str(data.get("outcome")))
        for (data,) in src.rows(
            "notify", "SELECT data FROM events WHERE event_type = 'intake.application_decided'"
        )
    )
    for key in sorted(set(told) | set(events)):
        if told[key] != events[key]:
            out.append(f"application {key[0]} {key[1]}: {told[key]} applied, {events[key]} told")
    sms_files = {p.stem for p in src.sms_dir.glob("*.txt")} if src.sms_dir.exists() else set()
    mails = Counter(m.strip("<>").split("@")[0] for m in src.smtp_ids)
    for delivery_id, channel, status, attempts in src.rows(
        "notify",
        "SELECT id, channel, status, attempts FROM deliveries"
        " WHERE event_type = 'intake.application_decided' AND recipient = 'learner'",
    ):
        copies = mails[str(delivery_id)]
        if status != "sent":
            out.append(f"learner delivery {delivery_id} ({channel}) is {status}, not sent")
        elif channel == "sms" and str(delivery_id) not in sms_files:
            out.append(f"learner SMS {delivery_id} sent but no file")
        elif channel == "email" and not 1 <= copies <= attempts:
            out.append(
                f"learner e-mail {delivery_id} reached the sink {copies}x in {attempts} attempts"
            )
    return out


def no_outbox_row_unsent(src: Sources) -> Violations:
    return [
        f"{service} outbox row {row_id} ({task}) never sent"
        for service in src.dsn
        for row_id, task in src.rows(
            service, "SELECT id, task_name FROM outbox WHERE sent_at IS NULL"
        )
    ]


def every_poison_message_recorded(src: Sources) -> Violations:
    """What the harness pushed onto each queue as poison is recorded by the queue's service,
    as many as were sent by queue and reason; each raw one by its digest, once."""
    recorded: Counter[tuple[str, str]] = Counter()
    digests: Counter[str] = Counter()
    for service in sorted(set(QUEUE_SERVICE.values())):
        for queue, reason, digest in src.rows(
            service, "SELECT queue, reason, digest FROM poison_messages"
        ):
            recorded[(str(queue), str(reason))] += 1
            digests[str(digest)] += 1
    out = [
        f"queue {q}: {n} {reason} poison message(s) sent, {recorded[(q, reason)]} recorded"
        for (q, reason), n in sorted(src.poison.items())
        if recorded[(q, reason)] != n
    ]
    out += [
        f"raw poison {d[:12]} recorded {digests[d]}x" for d in src.poison_digests if digests[d] != 1
    ]
    refused = src.rows("notify", "SELECT count(*) FROM refused_events")[0][0]
    if refused != src.refused_events:
        out.append(f"notify refused {refused} events by contract, {src.refused_events} sent")
    return out


def no_queue_blocked(src: Sources) -> Violations:
    """Every queue drained, nothing held unacknowledged: no message stuck in front of others."""
    client = redis.Redis.from_url(src.redis_url)
    try:
        out = [
            f"queue {q}: {n} message(s) still waiting"
            for q in QUEUE_SERVICE
            if (n := client.llen(q))
        ]
        if held := client.hlen("unacked"):
            out.append(f"{held} message(s) still unacknowledged")
        return out
    finally:
        client.close()


INVARIANTS: tuple[Callable[[Sources], Violations], ...] = (
    accepted_applications_exist,
    final_or_legitimately_pending,
    intake_agrees_with_review,
    one_case_per_application_level_round,
    each_approval_posted_once,
    every_learner_notice_delivered_once,
    no_outbox_row_unsent,
    every_poison_message_recorded,
    no_queue_blocked,
)


def check(src: Sources) -> dict[str, Violations]:
    """Every invariant's violations, by its name."""
    return {inv.__name__: inv(src) for inv in INVARIANTS}


def pending_summary(src: Sources) -> dict[str, int]:
    """What is legitimately pending, for the report."""
    rows = src.rows("intake", "SELECT status, count(*) FROM applications GROUP BY status")
    return {str(s): int(n) for s, n in rows}


def dumps(violations: dict[str, Violations]) -> str:
    return json.dumps(violations, ensure_ascii=False, indent=1)

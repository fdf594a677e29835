"""Credit conversion under load: the preview and the application, next to a plain deposit
measured in the same run.

    .venv/bin/python bench/conversion.py [--rounds 5] [--requests 20] [--concurrency 2]
                                         [--workers 2] [--rules 5000] [--outcomes 50]

Intake alone runs under gunicorn (deploy/gunicorn.conf.py, sync workers) on loopback, with its
own database, Redis DB and keys (all removed at the end, also on failure or SIGTERM). Over its
API, as a provincial-centre administrator: a catalogue (10 institutions, 50 programmes, 100
courses, 100 certificates), then a standard of ``--rules`` rules (100 toward each programme:
80 by certificate, 20 by training organiser) with every kind of cap, created in one
``POST /api/v1/conversion-standards`` and published; both timed. As a window clerk:
``concurrency x requests`` learners (and one more, for the warm-up and the statement count),
each holding ``--outcomes`` deposited outcomes (half skill certificates, half social
training), approved as review's decision would be (applied in-process).

Then ``--rounds`` rounds; in each, three phases one after the other, their order rotated
from round to round so that none always runs first or last on a warmer or more crowded
database. In a phase ``--concurrency`` client processes (one keep-alive connection each)
send ``--requests`` requests each, back to back:

* ``deposit``: ``POST /api/v1/applications``, a social-training deposit with evidence (the
  baseline: the window's everyday write);
* ``preview``: ``POST /api/v1/conversions/preview`` of a learner's ``--outcomes`` outcomes
  toward one programme (100 of the standard's rules aim at it);
* ``submit``: ``POST /api/v1/conversions`` of the same, each client on learners of its own
  (one per request); after the phase, untimed, every conversion is withdrawn, which frees
  its outcomes for the next round.

Printed: per operation the median over rounds of each round's p50 and p99, the median of
the per-round ratios to the deposit's p50 and p99 in that same round, pooled p50/p99 over
all rounds, requests/s of a phase; the SQL statements one request of each kind runs (counted
in-process, once); the standard's creation and publication times; headline figures as
``name: value`` lines. Only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import (  # noqa: E402
    Env,
    Processes,
    exit_on_sigterm,
    free_port,
    ms,
    percentile,
    print_log_tails,
    wait_healthy,
)

HOST = "127.0.0.1"  # loopback only
OPERATIONS = ("deposit", "preview", "submit")
PATHS = {
    "deposit": "/api/v1/applications",
    "preview": "/api/v1/conversions/preview",
    "submit": "/api/v1/conversions",
}
EXPECTED = {"deposit": 201, "preview": 200, "submit": 201}
STANDARD = "BENCH"
INSTITUTIONS, PROGRAMMES, COURSES, CERTIFICATES, ORGANISERS = 10, 5, 2, 100, 20
TARGET = {"institution": "U00", "programme": "U00-P0"}
CAPS = [
    {"kind": "per_year", "limit": "10000", "year_starts": "03-01"},
    {"kind": "per_outcome", "limit": "10"},
    {"kind": "per_institution", "limit": "10000"},
    {"kind": "per_programme", "limit": "10000"},
    {"kind": "certificates", "limit": "10000"},
]


# --- HTTP on loopback -------------------------------------------------------------------------


class Http:
    """JSON calls to one server on loopback over one keep-alive connection."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        sent = {**self.headers, **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # a server that closed the connection: once more, anew
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
            raw = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = raw[:200]
        return response.status, answer

    def ok(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, answer = self.call(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {status} {str(answer)[:600]}")
        return answer


# --- the world: tokens, the catalogue, the standard, the learners -----------------------------


def tokens() -> dict[str, dict[str, str]]:
    """Bearer headers of a window clerk at an OPERATING point and of a provincial-centre
    administrator, signed with the world's key (as org would issue them)."""
    from shared.auth import Principal, TokenIssuer
    from shared.settings import load_settings

    settings = load_settings("intake")
    private = settings.key_file("", "jwt_private.pem").read_bytes()
    issuer = TokenIssuer(private, settings.jwt_issuer, settings.jwt_audience, 6 * 3600)
    clerk = Principal(
        7, "bench-clerk", "AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point",
        frozenset({"service"}), "OPERATING",
    )  # fmt: skip
    admin = Principal(1, "bench-admin", "ZJ", "/ZJ/", "province", frozenset({"admin"}))
    return {
        name: {"Authorization": f"Bearer {issuer.issue(who)}"}
        for name, who in (("clerk", clerk), ("admin", admin))
    }


def catalogue(admin: Http) -> None:
    levels = ["初级", "中级", "高级"]
    for c in range(CERTIFICATES):
        body = {"name": f"技能证书{c:03d}", "outcome_kind": "skill_certificate", "levels": levels}
        admin.ok("PUT", f"/api/v1/catalogue/certificates/C-{c:03d}", body)
    for i in range(INSTITUTIONS):
        admin.ok("PUT", f"/api/v1/catalogue/institutions/U{i:02d}", {"name": f"高校{i:02d}"})
        for p in range(PROGRAMMES):
            programme = f"U{i:02d}-P{p}"
            body = {"institution_code": f"U{i:02d}", "name": f"专业{i:02d}-{p}"}
            admin.ok("PUT", f"/api/v1/catalogue/programmes/{programme}", body)
            for k in range(COURSES):
                body = {"programme_code": programme, "name": f"课程{i:02d}-{p}-{k}", "credits": "4"}
                admin.ok("PUT", f"/api/v1/catalogue/courses/{programme}-C{k}", body)


def organiser(n: int) -> str:
    return f"浙江省职业技能培训中心第{n:02d}分部"


def rule_set(count: int) -> list[dict[str, Any]]:
    """``count`` rules, in turn toward each programme: by certificate (80 in 100) and by
    training organiser (20 in 100); each about its own outcomes, so none contradicts another."""
    programmes = [(f"U{i:02d}", f"U{i:02d}-P{p}") for i in range(INSTITUTIONS) for p in range(5)]
    per = CERTIFICATES  # rules per programme before the next round of them
    found: list[dict[str, Any]] = []
    for n in range(count):
        institution, programme = programmes[(n // per) % len(programmes)]
        k, lap = n % per, n // (per * len(programmes))
        rule: dict[str, Any] = {
            "target_institution": institution,
            "target_programme": programme,
            "target_course": f"{programme}-C{k % COURSES}",
        }
        if k < CERTIFICATES - ORGANISERS:
            rule |= {
                "source": "certificate",
                "catalogue_code": f"C-{k:03d}",
                "min_level": ["初级", "中级", "高级"][lap % 3],
                "max_age_years": 5,
                "method": "fixed",
                "credits": "3",
            }
        else:
            rule |= {
                "source": "training",
                "organiser": organiser(k - (CERTIFICATES - ORGANISERS)),
                "min_hours": str(16 + lap),
                "method": "per_hours",
                "hours_per_credit": "16",
                "max_credits": "6",
            }
        found.append(rule)
    return found


def create_standard(admin: Http, rules: list[dict[str, Any]]) -> dict[str, float]:
    """The standard created with every rule in one request, then published: the times."""
    body = {
        "code": STANDARD,
        "name": "基准测试转换标准",
        "effective_from": "2026-01-01",
        "caps": CAPS,
        "rules": rules,
    }
    size = len(json.dumps(body, ensure_ascii=False).encode())
    print(f"standard: {len(rules)} rules, a body of {size / 1024 / 1024:.2f} MiB")
    start = time.perf_counter()
    status, answer = admin.call("POST", "/api/v1/conversion-standards", body)
    created = time.perf_counter() - start
    if status != 201:
        raise SystemExit(
            f"POST /api/v1/conversion-standards of {len(rules)} rules: HTTP {status} "
            f"{str(answer)[:300]}"
        )
    start = time.perf_counter()
    admin.ok("POST", f"/api/v1/conversion-standards/{STANDARD}/versions/1/publish")
    published = time.perf_counter() - start
    return {"create": created, "publish": published, "bytes": size}


def resident_id(serial: int) -> str:
    from shared.identity import check_character

    first17 = f"33010219900101{serial:03d}"
    return first17 + check_character(first17)


def approve(application_id: str) -> None:
    """What review would send intake for a final approval, applied in-process."""
    from services.intake import decisions
    from services.intake.context import db, worker_context

    message = {
        "message_id": uuid.uuid4(),
        "application_id": uuid.UUID(application_id),
        "round": 1,
        "level": "acceptance_point",
        "outcome": "approved",
        "decided_by_id": 900,
        "decided_by": "bench-reviewer",
        "decided_at": None,
        "reason": None,
    }
    with db.transaction() as session:
        decisions.apply_decision(session, worker_context(), message)  # type: ignore[arg-type]


def upload(port: int, clerk: dict[str, str]) -> str:
    """One piece of evidence, uploaded as the window's page sends it."""
    boundary = uuid.uuid4().hex
    content = b"%PDF-1.4 bench evidence\n%%EOF\n"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="e.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {**clerk, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    conn.request("POST", "/api/v1/attachments", body=body, headers=headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    if response.status not in (200, 201):
        raise RuntimeError(f"POST /api/v1/attachments: HTTP {response.status} {answer}")
    return str(answer["sha256"])


def training_body(account: str, sha: str, serial: int, organiser_no: int = 0) -> dict[str, Any]:
    return {
        "account_number": account,
        "outcome_kind": "social_training",
        "outcome": {
            "organiser": organiser(organiser_no),
            "programme": "电工初级培训",
            "hours": "48",
            "start_date": "2026-03-01",
            "end_date": "2026-03-20",
            "certificate_number": f"PX{serial:010d}",
        },
        "attachments": [sha],
    }


def certificate_body(account: str, sha: str, serial: int, code: int) -> dict[str, Any]:
    return {
        "account_number": account,
        "outcome_kind": "skill_certificate",
        "outcome": {
            "skill_name": f"技能证书{code:03d}",
            "catalogue_code": f"C-{code:03d}",
            "level": "高级",
            "certificate_number": f"ZS{serial:010d}",
            "issuing_authority": "评价组织",
            "issued_on": "2025-06-01",
        },
        "attachments": [sha],
    }


def learners(clerk: Http, sha: str, count: int, outcomes: int) -> list[dict[str, Any]]:
    """``count`` learners, each an open account holding ``outcomes`` approved deposits (half
    certificates, half training): their account numbers and ledger entries."""
    made = []
    for n in range(count):
        opened = clerk.ok(
            "POST",
            "/api/v1/accounts",
            {
                "document_type": "resident_id",
                "document_number": resident_id(n),
                "name": "测试学员",
                "phone": f"139{n:08d}",
                "verification_method": "card_reader",
            },
            expect=201,
        )
        approve(opened["id"])
        account = clerk.ok("GET", f"/api/v1/applications/{opened['id']}")["account_number"]
        for k in range(outcomes):
            serial = n * 1000 + k
            body = (
                certificate_body(account, sha, serial, k % (CERTIFICATES - ORGANISERS))
                if k % 2 == 0
                else training_body(account, sha, serial, k % ORGANISERS)
            )
            approve(clerk.ok("POST", "/api/v1/applications", body, expect=201)["id"])
        ledger = clerk.ok("GET", f"/api/v1/accounts/{account}/ledger?per_page=100")["items"]
        entries = [int(e["id"]) for e in ledger if e["entry_kind"] != "conversion"]
        if len(entries) != outcomes:
            raise RuntimeError(f"{account}: {len(entries)} ledger entries, not {outcomes}")
        made.append({"account": account, "entries": sorted(entries)})
    return made


def conversion_body(learner: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_number": learner["account"],
        "standard": STANDARD,
        "outcomes": learner["entries"],
        "target": dict(TARGET),
    }


# --- the load ---------------------------------------------------------------------------------


def client(args: tuple[Any, ...]) -> tuple[list[float], list[str]]:
    """One client process of a phase: ``requests`` requests back to back; their latencies,
    and the applications the submissions made."""
    port, headers, op, mine, sha, requests, seed = args
    http_ = Http(port, headers)
    latencies, made = [], []
    for i in range(requests):
        learner = mine[i % len(mine)]
        extra: dict[str, str] = {}
        if op == "deposit":
            body = training_body(learner["account"], sha, 900_000_000 + seed * 100_000 + i)
            extra["Idempotency-Key"] = f"bench-deposit-{uuid.uuid4()}"
        else:
            body = conversion_body(learner)
        if op == "submit":
            extra["Idempotency-Key"] = f"bench-submit-{uuid.uuid4()}"
        start = time.perf_counter()
        status, answer = http_.call("POST", PATHS[op], body, extra)
        elapsed = time.perf_counter() - start
        if status != EXPECTED[op] or (op == "preview" and not answer["ok"]):
            raise RuntimeError(f"{op}: HTTP {status} {str(answer)[:600]}")
        latencies.append(elapsed)
        if op == "submit":
            made.append(answer["id"])
    return latencies, made


def phase(
    port: int,
    clerk: dict[str, str],
    op: str,
    people: list[dict[str, Any]],
    sha: str,
    requests: int,
    concurrency: int,
) -> tuple[list[float], float, list[str]]:
    """``concurrency`` clients at once; submissions each on a learner of their own (the
    first ``concurrency x requests``), previews and deposits over all of them."""
    from services.intake.context import db

    assert db.engine is not None
    db.engine.dispose()  # no pooled connection is shared with the forked clients
    if op == "submit":
        shares = [people[k * requests : (k + 1) * requests] for k in range(concurrency)]
    else:
        shares = [people[k::concurrency] for k in range(concurrency)]
    jobs = [(port, clerk, op, shares[k], sha, requests, k) for k in range(concurrency)]
    with mp.get_context("fork").Pool(concurrency) as pool:
        start = time.perf_counter()
        results = pool.map(client, jobs)
        wall = time.perf_counter() - start
    latencies = [x for r, _ in results for x in r]
    return latencies, len(latencies) / wall, [a for _, made in results for a in made]


def withdraw(clerk: Http, applications: list[str]) -> None:
    """The conversions a phase made withdrawn (untimed): their outcomes are free again."""
    for application in applications:
        clerk.ok("POST", f"/api/v1/applications/{application}/withdraw", {"reason": "基准测试撤回"})


# --- SQL statements per request (in-process, once) --------------------------------------------


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every SQL statement run in this process while inside, in order."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def statements(app: Any, clerk: dict[str, str], spare: dict[str, Any], sha: str) -> dict[str, int]:
    """The statements one request of each kind runs, through intake's app in-process (the
    same code as the server's), after one of the same kind to warm it."""
    test = app.test_client()
    counted: dict[str, int] = {}

    def send(op: str, serial: int) -> int:
        """One request; the statements it ran. A submission is withdrawn after it (not
        counted): the spare's outcomes free again."""
        body = (
            training_body(spare["account"], sha, serial)
            if op == "deposit"
            else conversion_body(spare)
        )
        headers = {**clerk, "Idempotency-Key": f"bench-count-{uuid.uuid4()}"}
        with counting() as seen:
            r = test.post(PATHS[op], headers=headers, json=body)
        if r.status_code != EXPECTED[op]:
            raise RuntimeError(f"{op} (counted): HTTP {r.status_code} {r.json}")
        if op == "submit":
            path = f"/api/v1/applications/{r.json['id']}/withdraw"
            back = test.post(path, headers=clerk, json={"reason": "基准测试撤回"})
            assert back.status_code == 200, back.json
        return len(seen)

    for n, op in enumerate(OPERATIONS):
        send(op, 990_000_000 + 2 * n)  # warm: the connection, the caches
        counted[op] = send(op, 990_000_001 + 2 * n)
    return counted


# --- figures ----------------------------------------------------------------------------------


def report(
    rounds: list[dict[str, list[float]]],
    rates: dict[str, list[float]],
    counted: dict[str, int],
    standard: dict[str, float],
) -> None:
    def per_round(op: str, q: float) -> list[float]:
        return [percentile(r[op], q) for r in rounds]

    def ratio(op: str, q: float) -> float:
        return statistics.median(percentile(r[op], q) / percentile(r["deposit"], q) for r in rounds)

    print()
    print(
        f"{'operation':<9} {'p50 ms':>7} {'p99 ms':>7} {'x dep p50':>9} {'x dep p99':>9} "
        f"{'pooled p50':>10} {'pooled p99':>10} {'req/s':>6} {'SQL':>4}"
    )
    headline: dict[str, str] = {}
    for op in OPERATIONS:
        pooled = [x for r in rounds for x in r[op]]
        p50, p99 = statistics.median(per_round(op, 0.5)), statistics.median(per_round(op, 0.99))
        r50, r99 = ratio(op, 0.5), ratio(op, 0.99)
        print(
            f"{op:<9} {ms(p50):>7} {ms(p99):>7} {r50:>9.2f} {r99:>9.2f} "
            f"{ms(percentile(pooled, 0.5)):>10} {ms(percentile(pooled, 0.99)):>10} "
            f"{statistics.median(rates[op]):>6.1f} {counted[op]:>4}"
        )
        headline |= {
            f"{op}_p50_ms": ms(p50),
            f"{op}_p99_ms": ms(p99),
            f"{op}_statements": str(counted[op]),
        }
        if op != "deposit":
            headline |= {f"{op}_p50_ratio": f"{r50:.2f}", f"{op}_p99_ratio": f"{r99:.2f}"}
    print(
        "(p50, p99: medians over rounds of each round's; x dep: median of each round's ratio "
        "to the deposit's in that round; SQL: statements of one request)"
    )
    print()
    headline |= {
        "standard_create_s": f"{standard['create']:.2f}",
        "standard_publish_s": f"{standard['publish']:.2f}",
    }
    for name, value in headline.items():
        print(f"{name}: {value}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20, help="per client and phase")
    parser.add_argument("--concurrency", type=int, default=2, help="client processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--rules", type=int, default=5000)
    parser.add_argument("--outcomes", type=int, default=50, help="per learner (at most 50)")
    return parser.parse_args(argv)


def timed(what: str, step: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = step()
    print(f"{what}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return value


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    env = Env("bench_conv", ("intake",))
    procs = Processes(env)
    port = free_port()
    failed = True
    try:
        from shared.migrations import upgrade

        env.create()
        upgrade("intake", env.url("intake"))
        from services.intake.app import create_app

        app = create_app()  # in-process: review's decisions applied, statements counted
        procs.serve("intake", "services.intake.app:create_app()", port, args.workers)
        wait_healthy(port, "intake", procs)
        headers = tokens()
        admin, clerk = Http(port, headers["admin"]), Http(port, headers["clerk"])
        with app.app_context():
            timed("catalogue", lambda: catalogue(admin))
            standard = create_standard(admin, rule_set(args.rules))
            sha = upload(port, headers["clerk"])
            people = timed(
                "learners",
                lambda: learners(clerk, sha, args.concurrency * args.requests + 1, args.outcomes),
            )
            spare, people = people[-1], people[:-1]
            counted = statements(app, headers["clerk"], spare, sha)
            print(
                f"gunicorn sync workers: {args.workers}; {args.concurrency} clients x "
                f"{args.requests} requests per phase; {args.rounds} rounds; "
                f"{args.outcomes} outcomes per conversion"
            )
            for op in OPERATIONS:  # warm-up, not counted: every worker's caches and pool
                _, _, made = phase(port, headers["clerk"], op, people, sha, 2, args.concurrency)
                withdraw(clerk, made)
            rounds: list[dict[str, list[float]]] = []
            rates: dict[str, list[float]] = {op: [] for op in OPERATIONS}
            for n in range(args.rounds):
                order = OPERATIONS[n % 3 :] + OPERATIONS[: n % 3]
                got: dict[str, list[float]] = {}
                for op in order:
                    latencies, rate, made = phase(
                        port, headers["clerk"], op, people, sha, args.requests, args.concurrency
                    )
                    withdraw(clerk, made)
                    got[op], rates[op] = latencies, [*rates[op], rate]
                rounds.append(got)
                print(
                    f"round {n + 1} ({', '.join(order)}): "
                    + ", ".join(
                        f"{op} p50 {ms(percentile(got[op], 0.5))} p99 "
                        f"{ms(percentile(got[op], 0.99))} ms"
                        for op in OPERATIONS
                    ),
                    flush=True,
                )
        print(
            f"standard of {args.rules} rules ({standard['bytes'] / 1024 / 1024:.2f} MiB): "
            f"created in {standard['create']:.2f} s, published in {standard['publish']:.2f} s"
        )
        report(rounds, rates, counted, standard)
        failed = False
    finally:
        if failed:
            print_log_tails(env)
        procs.stop_all()
        env.remove()


if __name__ == "__main__":
    main()

"""The chaos harness's steady mixed load, over the APIs as the window and reviewers use them:
account openings, deposits, resubmissions of returned deposits, bulk imports, and two
reviewers (at the point and at sub-centre S001) deciding every case in their inbox.

Faults make calls fail (5xx, refused, timed out): every write carries an Idempotency-Key
where the API takes one and is retried for a while; an operation counts as *accepted* only
once an API answered it 2xx. The org set-up, the evidence upload, the deposit's body and the
HTTP client are bench/review_flow.py's; the import file's learners are bench/bulk_import.py's.
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time
from collections import Counter
from typing import Any, ClassVar

import psycopg
import requests

from bench.bulk_import import HEADERS, resident_id
from bench.review_flow import Http, Staff, deposit_body, prepare_org, upload_evidence

RETRY_FOR = 90.0  # seconds a write is retried through faults before it is given up
CALL_TIMEOUT = 20.0


class Load:
    """Operations at ``rate`` a second (chosen by weight) and the two reviewers, in threads,
    from ``start`` until ``stop_operations``; reviewers go on until ``stop_reviewers``."""

    WEIGHTS: ClassVar[dict[str, int]] = {"opening": 3, "deposit": 5, "resubmit": 1, "import": 1}

    def __init__(self, ports: dict[str, int], intake_dsn: str, rate: float, seed: int) -> None:
        self.ports, self.intake_dsn, self.rate = ports, intake_dsn, rate
        self.random = random.Random(seed)
        self.accepted: dict[str, list[str]] = {k: [] for k in (*self.WEIGHTS, "decision")}
        self.failed: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.operating = threading.Event()
        self.reviewing = threading.Event()
        self.threads: list[threading.Thread] = []
        self.seq = 0
        self.staff: Staff | None = None
        self.sha = ""

    # --- set-up and life --------------------------------------------------------------------

    def prepare(self) -> None:
        """The point, its staff and reviewers (review_flow's set-up), and one evidence file."""
        self.staff = prepare_org(Http(self.ports["org"]))
        self.sha = upload_evidence(Http(self.ports["intake"]), self.staff.window)

    def start(self) -> None:
        self.operating.set()
        self.reviewing.set()
        assert self.staff is not None
        self.threads = [
            threading.Thread(target=self._operate, daemon=True, name="operations"),
            threading.Thread(target=self._operate, daemon=True, name="operations-2"),
            threading.Thread(target=self._review, args=(self.staff.point_reviewer,), daemon=True),
            threading.Thread(
                target=self._review, args=(self.staff.subcentre_reviewer,), daemon=True
            ),
        ]
        for t in self.threads:
            t.start()

    def stop_operations(self) -> None:
        self.operating.clear()
        for t in self.threads[:2]:
            t.join(timeout=RETRY_FOR + 30)

    def stop_reviewers(self) -> None:
        self.reviewing.clear()
        for t in self.threads[2:]:
            t.join(timeout=CALL_TIMEOUT * 3)

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {k: len(v) for k, v in self.accepted.items()}

    # --- the window ---------------------------------------------------------------------------

    def _operate(self) -> None:
        # Two threads, each at half the rate: one slow call (a retried write through a
        # fault) does not stop the other.
        interval = 2.0 / self.rate
        kinds, weights = list(self.WEIGHTS), list(self.WEIGHTS.values())
        while self.operating.is_set():
            began = time.monotonic()
            with self.lock:
                kind = self.random.choices(kinds, weights)[0]
                self.seq += 1
                seq = self.seq
            try:
                done = getattr(self, f"_{kind}")(seq)
            except Exception as exc:  # a fault the retries did not outlast
                done = None
                self.failed[f"{kind}: {type(exc).__name__}"] += 1
            if done:
                with self.lock:
                    self.accepted[kind].append(done)
            time.sleep(max(0.0, interval - (time.monotonic() - began)))

    def _write(self, method: str, path: str, ok: tuple[int, ...], **kw: Any) -> Any:
        """The call, retried through faults (5xx, refused, timed out) for ``RETRY_FOR``
        seconds; the answer of a 2xx, or None if refused (4xx) or never answered."""
        assert self.staff is not None
        headers = {**self.staff.window, **kw.pop("headers", {})}
        deadline = time.monotonic() + RETRY_FOR
        while self.operating.is_set() and time.monotonic() < deadline:
            try:
                answer = requests.request(
                    method,
                    f"http://127.0.0.1:{self.ports['intake']}/api/v1{path}",
                    headers=headers,
                    timeout=CALL_TIMEOUT,
                    **kw,
                )
            except requests.RequestException:
                time.sleep(1)
                continue
            if answer.status_code in ok:
                return answer.json()
            if answer.status_code < 500:
                self.failed[f"{path.split('/')[1]}: HTTP {answer.status_code}"] += 1
                return None
            time.sleep(1)
        return None

    def _opening(self, seq: int) -> str | None:
        body = {
            "document_type": "resident_id",
            "document_number": resident_id(seq),
            "name": "测试学员",
            "phone": f"139{seq:08d}",
            "verification_method": "card_reader",
        }
        if seq % 3 == 0:
            body["email"] = f"learner{seq}@example.test"
        key = {"Idempotency-Key": f"chaos-opening-{seq}"}
        answer = self._write("POST", "/accounts", (201,), json=body, headers=key)
        return str(answer["id"]) if answer else None

    def _deposit(self, seq: int) -> str | None:
        account = self._pick(
            "SELECT number FROM accounts WHERE status = 'open' ORDER BY random() LIMIT 1"
        )
        if account is None:
            return None
        body = deposit_body(account, self.sha, seq)
        key = {"Idempotency-Key": f"chaos-deposit-{seq}"}
        answer = self._write("POST", "/applications", (201,), json=body, headers=key)
        return str(answer["id"]) if answer else None

    def _resubmit(self, seq: int) -> str | None:
        app_id = self._pick(
            "SELECT id FROM applications WHERE status = 'returned' AND kind = 'deposit'"
            " ORDER BY random() LIMIT 1"
        )
        if app_id is None:
            return None
        body = {k: v for k, v in deposit_body("", self.sha, seq).items() if k != "account_number"}
        answer = self._write("POST", f"/applications/{app_id}/resubmit", (200,), json=body)
        return str(app_id) if answer else None

    def _import(self, seq: int) -> str | None:
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for k in range(3):
            serial = 50_000 + seq * 3 + k
            writer.writerow(
                ["张三", "居民身份证", resident_id(serial), f"138{serial:08d}",
                 "杭州市职业技能培训中心", "电工初级培训", "2026-03-01", "2026-03-20",
                 "16", f"CX{serial:08d}"]
            )  # fmt: skip
        data = out.getvalue().encode()
        answer = self._write(
            "POST", "/imports", (200, 202), files={"file": (f"chaos-{seq}.csv", data, "text/csv")}
        )
        return str(answer["id"]) if answer else None

    def _pick(self, sql: str) -> str | None:
        try:
            with psycopg.connect(self.intake_dsn, connect_timeout=5) as conn:
                row = conn.execute(sql).fetchone()
        except psycopg.Error:
            return None
        return str(row[0]) if row else None

    # --- the reviewers ------------------------------------------------------------------------

    def _review(self, headers: dict[str, str]) -> None:
        base = f"http://127.0.0.1:{self.ports['review']}/api/v1"
        while self.reviewing.is_set():
            try:
                inbox = requests.get(
                    f"{base}/inbox?per_page=100", headers=headers, timeout=CALL_TIMEOUT
                )
                items = inbox.json()["items"] if inbox.status_code == 200 else []
            except (requests.RequestException, ValueError, KeyError):
                items = []
            for case in items:
                if not self.reviewing.is_set():
                    return
                self._decide(base, headers, case)
            time.sleep(0.5 if items else 1.0)

    def _decide(self, base: str, headers: dict[str, str], case: dict[str, Any]) -> None:
        with self.lock:
            roll = self.random.random()
        if case.get("kind") == "import" or roll < 0.7:
            body: dict[str, Any] = {"decision": "approve"}
        elif roll < 0.85 or case.get("kind") == "account_opening":
            body = {"decision": "reject", "reason": "材料不符"}
        else:
            body = {"decision": "return", "reason": "请补充材料"}
        try:
            answer = requests.post(
                f"{base}/cases/{case['id']}/decision",
                json=body,
                headers=headers,
                timeout=CALL_TIMEOUT,
            )
        except requests.RequestException:
            return
        if answer.status_code == 200:
            with self.lock:
                self.accepted["decision"].append(str(case["id"]))

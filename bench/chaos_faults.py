"""The chaos harness's fault injector: one fault at a time, every kind in turn (shuffled each
cycle, so a short run still injects each), with ``gap`` seconds of calm between them.

- ``kill``: SIGKILL to a random worker, relay or beat (its whole process group), started again;
- ``redis_restart``: the harness's redis-server killed and started again, empty;
- ``postgres_stop``: the harness's PostgreSQL stopped for ``postgres_down`` seconds;
- ``network_cut``: the fault proxy in front of Redis or PostgreSQL drops every connection
  and refuses new ones for a few seconds;
- ``network_slow``: the same proxy delays every chunk for a while;
- ``poison``: malformed messages pushed straight onto every queue (raw bytes that are no
  message, an undecodable body, an unknown task, a known task breaking its contract) and
  duplicates of real messages (same task id, and a new one); the injector waits for the
  receivers to record the poison before it goes on.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections import Counter
from typing import Protocol

import psycopg
import redis

from bench.chaos_checker import QUEUE_SERVICE
from bench.faultproxy import FaultProxy
from shared.task_messages import envelope, task_message

KINDS = ("kill", "redis_restart", "postgres_stop", "network_cut", "network_slow", "poison")
# A known task per queue that checks a contract, and a payload breaking it (no personal data).
CONTRACT_TASKS = {
    "intake": "intake.apply_decision",
    "intake.imports": "intake.read_import_chunk",
    "review.acceptance_point": "review.open_case",
    "review.subcentre": "review.open_case",
    "review.branch": "review.open_case",
    "review.province": "review.open_case",
    "notify": "notify.deliver",
}


class System(Protocol):
    """What the injector acts on: the harness (bench/chaos.py)."""

    proxies: dict[str, FaultProxy]
    direct_redis_url: str

    def killable(self) -> list[str]: ...
    def kill_and_restart(self, name: str) -> None: ...
    def restart_redis_empty(self) -> None: ...
    def stop_postgres(self) -> None: ...
    def start_postgres(self) -> None: ...
    def dsn(self, service: str) -> str: ...


class Injector(threading.Thread):
    def __init__(
        self, system: System, seed: int, gap: float, postgres_down: float, kinds: tuple[str, ...]
    ) -> None:
        super().__init__(daemon=True, name="faults")
        self.system, self.gap, self.postgres_down = system, gap, postgres_down
        self.kinds = kinds
        self.random = random.Random(seed)
        self.stopping = threading.Event()
        self.cycled = threading.Event()  # every kind injected at least once
        self.injected: Counter[str] = Counter()
        self.poison: Counter[tuple[str, str]] = Counter()
        self.poison_digests: set[str] = set()
        self.refused_events = 0
        self.errors: list[str] = []
        self.log: list[str] = []
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.stopping.is_set():
            cycle = list(self.kinds)
            self.random.shuffle(cycle)
            for kind in cycle:
                if self.stopping.wait(self.gap):
                    return
                began = time.monotonic()
                try:
                    detail = getattr(self, f"_{kind}")()
                    self.injected[kind] += 1
                except Exception as exc:  # reported; the run goes on with the next fault
                    detail = f"failed: {type(exc).__name__}: {exc}"
                    self.errors.append(f"{kind}: {detail}")
                took = time.monotonic() - began
                self.log.append(f"{began - self.started:7.1f}s {kind} {detail} ({took:.1f}s)")
            self.cycled.set()

    def stop(self) -> None:
        """No new fault; the one under way finishes (and heals) first."""
        self.stopping.set()
        self.join(timeout=self.postgres_down + 120)

    # --- the faults -------------------------------------------------------------------------

    def _kill(self) -> str:
        name = self.random.choice(self.system.killable())
        self.system.kill_and_restart(name)
        return name

    def _redis_restart(self) -> str:
        self.system.restart_redis_empty()
        return "emptied"

    def _postgres_stop(self) -> str:
        self.system.stop_postgres()
        try:
            time.sleep(self.postgres_down)
        finally:
            self.system.start_postgres()
        return f"down {self.postgres_down:.0f}s"

    def _network_cut(self) -> str:
        target = self.random.choice(sorted(self.system.proxies))
        seconds = self.random.uniform(3, 10)
        proxy = self.system.proxies[target]
        proxy.cut()
        try:
            time.sleep(seconds)
        finally:
            proxy.heal()
        return f"{target} {seconds:.1f}s"

    def _network_slow(self) -> str:
        target = self.random.choice(sorted(self.system.proxies))
        latency, seconds = self.random.uniform(0.05, 0.5), self.random.uniform(5, 15)
        proxy = self.system.proxies[target]
        proxy.slow(latency)
        try:
            time.sleep(seconds)
        finally:
            proxy.heal()
        return f"{target} +{latency * 1000:.0f}ms for {seconds:.1f}s"

    def _poison(self) -> str:
        client = redis.Redis.from_url(self.system.direct_redis_url)
        sent: Counter[tuple[str, str]] = Counter()
        refused = 0
        duplicates = 0
        try:
            for queue in QUEUE_SERVICE:
                raw = f"chaos poison {uuid.uuid4()} for {queue}".encode()
                client.lpush(queue, raw)
                self.poison_digests.add(hashlib.sha256(raw).hexdigest())
                sent[(queue, "undecodable")] += 1
                client.lpush(queue, envelope(queue, b"\x80\x81 not utf-8", {}, "x-chaos/none"))
                sent[(queue, "undecodable")] += 1
                client.lpush(queue, task_message(queue, "chaos.no_such_task", {"n": 1}))
                sent[(queue, "unknown_task")] += 1
                if queue in CONTRACT_TASKS:
                    breach = {"message_id": str(uuid.uuid4()), "chaos": True}
                    client.lpush(queue, task_message(queue, CONTRACT_TASKS[queue], breach))
                    if queue == "notify":
                        refused += 1  # notify keeps its own record of refused events
                    else:
                        sent[(queue, "contract")] += 1
                duplicates += self._duplicate(client, queue)
        finally:
            client.close()
        self.poison.update(sent)
        self.refused_events += refused
        # Recorded before the next fault: a Redis restart must not take poison unread.
        expected = sum(self.poison.values()) + self.refused_events
        deadline = time.monotonic() + 90
        while self._recorded() < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        return f"{sum(sent.values()) + refused} poison, {duplicates} duplicates"

    def _recorded(self) -> int:
        total = 0
        for service in sorted(set(QUEUE_SERVICE.values())):
            sql = "SELECT count(*) FROM poison_messages"
            if service == "notify":
                sql += " UNION ALL SELECT count(*) FROM refused_events"
            try:
                with psycopg.connect(self.system.dsn(service), connect_timeout=5) as conn:
                    total += sum(int(r[0]) for r in conn.execute(sql).fetchall())
            except psycopg.Error:
                return -1
        return total

    def _duplicate(self, client: redis.Redis, queue: str) -> int:
        """A real message sent again as it was (same task id) and as a new one."""
        for service in ("intake", "review", "org"):
            try:
                with psycopg.connect(self.system.dsn(service), connect_timeout=5) as conn:
                    row = conn.execute(
                        "SELECT id, task_name, payload FROM outbox WHERE queue = %s"
                        " AND sent_at IS NOT NULL ORDER BY random() LIMIT 1",
                        (queue,),
                    ).fetchone()
            except psycopg.Error:
                continue
            if row:
                for task_id in (str(row[0]), str(uuid.uuid4())):
                    client.lpush(queue, task_message(queue, row[1], row[2], task_id))
                return 2
        return 0

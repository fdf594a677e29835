"""SQLAlchemy 2 engine and session handling: one session per request, one per task.

Services declare their own ``Base`` (so each keeps its own metadata and migrations) with
``NAMING_CONVENTION`` so every constraint has a predictable name.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import DateTime, Engine, Enum, MetaData, func, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, mapped_column, scoped_session, sessionmaker

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestSession(Session):
    """Reads of a GET request run in autocommit: no BEGIN/ROLLBACK round trips for a request
    that cannot write. Any other request, task or command gets a normal transaction."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        read_engine = self.info.get("read_engine")
        if read_engine is not None and _safe_request():
            return read_engine
        return super().get_bind(*args, **kwargs)


def _safe_request() -> bool:
    from flask import has_request_context, request

    return has_request_context() and request.method in SAFE_METHODS


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def naming_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def value_enum(kind: type[enum.Enum], name: str) -> Enum:
    """A PostgreSQL enum type ``name`` holding the members' values (not their names)."""
    return Enum(kind, name=name, values_callable=lambda k: [m.value for m in k])


def created_now() -> Any:
    """A timestamp column the database fills with the transaction's time."""
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def utcnow() -> datetime:
    return datetime.now(UTC)


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """COPY ``rows`` into ``table`` in the session's transaction: for thousands of rows at
    once, where an INSERT's parameters would cost more to send than the rows themselves.
    ``table`` and ``columns`` are the caller's own names, never input."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    quoted = ", ".join(f'"{c}"' for c in columns)  # "column" and "row" are SQL words
    statement = f"COPY {table} ({quoted}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def stage(session: Session, table: str, name: str, columns: Sequence[str]) -> None:
    """An empty temporary copy ``name`` of ``table``'s ``columns``, gone at commit: where
    COPY lands rows that an INSERT ... SELECT ... ON CONFLICT then takes. ``table``,
    ``name`` and ``columns`` are the caller's own names, never input."""
    session.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {', '.join(columns)} FROM {table} WITH NO DATA"
        )
    )


def make_engine(url: str, **kwargs: Any) -> Engine:
    # No pre-ping: it costs a round trip per checkout. A connection found dead raises once;
    # SQLAlchemy then invalidates the whole pool, so a PostgreSQL restart costs one failed
    # request per process (clients retry; writes are idempotent) instead of a tax on every one.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    # Server-side prepared statements for what runs often (psycopg prepares a statement on
    # its fifth run), but always planned with their values (plan_cache_mode): a generic plan
    # cannot turn ``path LIKE $1`` into an index range nor see how skewed ``level = $2`` is
    # (a branch's page of points: 2.9 ms generic against 0.08 ms custom, measured with 10,000
    # points). What preparing saves is parsing and analysing each statement again: a fifth of
    # PostgreSQL's CPU for a case opened (4.5 ms against 3.6, alternating runs). Behind
    # PgBouncer in transaction mode this needs PgBouncer 1.21+ (max_prepared_statements).
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("prepare_threshold", 5)
    options = connect_args.get("options", "")
    if "plan_cache_mode" not in options:
        connect_args["options"] = f"{options} -c plan_cache_mode=force_custom_plan".strip()
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    # Looked up when called, not bound at import: tracing's SQLAlchemy instrumentation wraps
    # ``sqlalchemy.create_engine`` once it is switched on (shared/tracing.py).
    return sqlalchemy.create_engine(url, **kwargs)


class Database:
    """Owns the engine and the session registry of one service.

    Web requests use ``db.session`` (removed, and so rolled back if uncommitted, when the
    request ends); tasks and commands use ``with db.transaction() as session``.
    """

    def __init__(self, url: str | None = None, **kwargs: Any) -> None:
        self.engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._registry: scoped_session[Session] | None = None
        if url:
            self.configure(url, **kwargs)

    def configure(self, url: str, **kwargs: Any) -> None:
        if self.engine is not None:
            self.engine.dispose()
        self.engine = make_engine(url, **kwargs)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._registry = scoped_session(
            sessionmaker(
                self.engine,
                class_=RequestSession,
                expire_on_commit=False,
                info={"read_engine": read_engine},
            )
        )

    def init_app(self, app: Any) -> None:
        pool = {
            name: app.config[key]
            for name, key in (
                ("pool_size", "DATABASE_POOL_SIZE"),
                ("max_overflow", "DATABASE_MAX_OVERFLOW"),
            )
            if key in app.config
        }
        self.configure(app.config["DATABASE_URL"], **pool)
        app.extensions["cb_db"] = self

        # At the end of every request (not only of its app context, which a caller may keep
        # open around several requests): an uncommitted transaction must never outlive it.
        @app.teardown_request
        def _remove_session(_exc: BaseException | None) -> None:
            self.remove()

    @property
    def session(self) -> Session:
        assert self._registry is not None, "Database not configured"
        return self._registry()

    def remove(self) -> None:
        if self._registry is not None:
            self._registry.remove()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A fresh session that commits when the block ends and rolls back on error."""
        assert self._factory is not None, "Database not configured"
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        assert self.engine is not None
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


T = TypeVar("T")
log = logging.getLogger(__name__)
# PostgreSQL aborted the transaction to let another one through: deadlock_detected,
# serialization_failure. The aborted one changed nothing and may simply run again.
CONFLICTS = frozenset({"40P01", "40001"})


def again_on_conflict(db: Database, work: Callable[[Session], T], attempts: int = 3) -> T:
    """``work`` in a transaction of its own, run again in a new one (at once, not delayed in
    Redis) when PostgreSQL aborted it as a deadlock victim or a serialization failure; any
    other error, or the last attempt's, goes up."""
    for attempt in range(1, attempts + 1):
        try:
            with db.transaction() as session:
                return work(session)
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in CONFLICTS or attempt == attempts:
                raise
            log.warning(
                "transaction aborted by a conflict; running it again",
                extra={"sqlstate": code, "attempt": attempt},
            )
    raise AssertionError("attempts must be at least 1")

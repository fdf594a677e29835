"""Alembic ``env.py`` body shared by the services: each passes its metadata and service name.

The database URL comes from the same settings the service uses (``CB_<SERVICE>_DATABASE_URL``)
unless ``sqlalchemy.url`` is set on the Alembic config (as tests and bootstrap do).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, MetaData, pool

from shared.db import make_engine
from shared.settings import database_url


def run_migrations(metadata: MetaData, service: str) -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url") or database_url(service)
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        partitions = _partitions(connection)
        connection.commit()  # so that the migrations' transaction is their own
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            # A partition is its table's (made by a migration), not one of the models.
            include_name=lambda name, kind, _: not (kind == "table" and name in partitions),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def _partitions(connection: Connection) -> set[str]:
    """The names of the tables that are partitions of another."""
    found = connection.exec_driver_sql(
        "SELECT relname FROM pg_class WHERE relispartition AND relkind IN ('r', 'p')"
    )
    return set(found.scalars())


def alembic_config(service: str, url: str | None = None):  # type: ignore[no-untyped-def]
    """An Alembic ``Config`` for ``service``'s migrations, optionally for another database."""
    from alembic.config import Config

    from shared.settings import PROJECT_ROOT

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "services" / service / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(service: str, url: str | None = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(service, url), "head")


def create_append_only(table: str) -> str:
    """DDL making ``table`` append-only: the database itself refuses UPDATE and DELETE."""
    return f"""
CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '{table} is append-only';
END $$;
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
"""


def drop_append_only(table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
DROP FUNCTION IF EXISTS {table}_append_only();
"""

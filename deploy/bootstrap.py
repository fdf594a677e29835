"""Bring a machine's databases up to date: keys, databases, migrations, org tree, first admin.

    python -m deploy.bootstrap            # every service
    python -m deploy.bootstrap --only org

Safe to run again and again: each step does only what is missing. ``make run`` and the
compose file's one-shot ``migrate`` job both run it.
"""

from __future__ import annotations

import argparse
import os
import sys

import psycopg
from sqlalchemy.engine import make_url

from shared import auth, pii, sealing
from shared.migrations import upgrade
from shared.settings import SERVICES, load_settings


def ensure_keys() -> None:
    """Create the token-signing and notify-sealing key pairs if they are not there yet."""
    settings = load_settings("org")
    private = settings.key_file(settings.jwt_private_key_file, "jwt_private.pem")
    public = settings.key_file(settings.jwt_public_key_file, "jwt_public.pem")
    if not private.exists():
        auth.generate_keypair(private, public)
        print(f"keys: created token signing keys in {private.parent}")
    pii_keys = settings.key_file(settings.pii_key_file, "pii.json")
    if not pii_keys.exists():
        pii.generate_keys(pii_keys)
        print(
            f"keys: created the personal-data keys {pii_keys} (keep a backup: without it the "
            "learners' ID and phone numbers cannot be read)"
        )
    from services.intake.certificates.bank import certificate_keys_dir, ensure_key
    from shared.db import utcnow

    intake = load_settings("intake")
    if ensure_key(intake, utcnow()):
        print(
            f"keys: created the first certificate signing key in {certificate_keys_dir(intake)} "
            "(rotate with python -m deploy.certificate_keys rotate)"
        )
    seal_public = settings.key_file(settings.notify_public_key_file, "notify_seal_public.pem")
    if not seal_public.exists():
        sealing.generate_keypair(seal_public.with_name("notify_seal_private.pem"), seal_public)
        print(f"keys: created notify sealing keys in {seal_public.parent}")


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if the server does not have it."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
            print(f"database {parsed.database}: created")


def load_org() -> None:
    from services.org.app import create_app
    from services.org.cli import create_admin, load_tree

    app = create_app()
    with app.app_context():
        runner = app.test_cli_runner()
        for command, args in ((load_tree, []), (create_admin, [])):
            if command is create_admin and not (
                os.environ.get("CB_ADMIN_USERNAME") and os.environ.get("CB_ADMIN_PASSWORD")
            ):
                print("first admin: CB_ADMIN_USERNAME/CB_ADMIN_PASSWORD not set; skipped")
                continue
            result = runner.invoke(command, args)
            print(result.output.strip())
            if result.exit_code:
                raise SystemExit(result.exit_code)


def seed_review() -> None:
    """The default route table (version 1), if the review database has none yet."""
    from services.review.routing import seed_routes
    from shared.db import Database

    database = Database(load_settings("review").database_url)
    with database.transaction() as session:
        added = seed_routes(session)
    database.dispose()
    print(
        f"review routes: {added} default routes written"
        if added
        else "review routes: already present"
    )


def seed_intake() -> None:
    """The sample conversion standard and catalogue (marked 示例), if intake has no standard."""
    from services.intake.conversion import sample
    from services.intake.conversion.applications import today
    from shared.db import Database

    database = Database(load_settings("intake").database_url)
    with database.transaction() as session:
        added = sample.seed(session, today())
    database.dispose()
    print(
        f"intake: the sample conversion standard {sample.CODE} written (retire it once real "
        "ones are published)"
        if added
        else "intake conversion standards: already present"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="create, migrate and seed the databases")
    parser.add_argument("--only", choices=SERVICES, action="append")
    args = parser.parse_args(argv)
    ensure_keys()
    for service in args.only or SERVICES:
        url = load_settings(service).database_url
        ensure_database(url)
        upgrade(service, url)
        print(f"database {make_url(url).database}: migrated")
    if not args.only or "org" in args.only:
        load_org()
    if not args.only or "review" in args.only:
        seed_review()
    if not args.only or "intake" in args.only:
        seed_intake()
    sys.stdout.flush()


if __name__ == "__main__":
    main()

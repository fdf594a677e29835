"""Org commands: ``flask --app services.org.app org load-tree`` and ``org create-admin``."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from services.org import accounts, tree
from services.org.context import context, db

org_cli = AppGroup("org", help="Org tree and first administrator.")


@org_cli.command("load-tree")
def load_tree() -> None:
    """Load the provincial centre, 11 branches and 92 sub-centres (idempotent)."""
    with db.transaction() as session:
        counts = tree.load_tree(session)
    click.echo(
        f"org tree: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )


@org_cli.command("create-admin")
@click.option("--username", default=lambda: os.environ.get("CB_ADMIN_USERNAME"), required=True)
@click.option(
    "--password",
    default=lambda: os.environ.get("CB_ADMIN_PASSWORD"),
    required=True,
    help="defaults to $CB_ADMIN_PASSWORD, so it need not appear in the process list",
)
@click.option("--display-name", default="省中心管理员")
def create_admin(username: str, password: str, display_name: str) -> None:
    """Create the provincial centre's first administrator; an existing one is left as it is."""
    with db.transaction() as session:
        staff, created = accounts.ensure_first_admin(
            session, context(), username, password, display_name
        )
    click.echo(f"administrator {staff.username}: {'created' if created else 'already exists'}")

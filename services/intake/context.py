"""What intake's rules need besides the session: settings, the personal-data cipher, the
evidence directory."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import current_app

from services.intake import config
from services.intake.certificates.bank import Bank
from shared import evidence
from shared.db import Database
from shared.pii import PiiCipher, load_cipher
from shared.settings import Settings


@dataclass(frozen=True)
class IntakeContext:
    settings: Settings
    cipher: PiiCipher
    attachments_dir: Path
    notify_public_pem: bytes  # seals a learner's phone number for notify
    bank: Bank  # the certificate issuer: its addresses, signing keys and publications


@cache
def worker_context() -> IntakeContext:
    """The context of a worker process, built once from its settings."""
    return build_context(config.settings())


def build_context(settings: Settings) -> IntakeContext:
    key_file = settings.key_file(settings.pii_key_file, "pii.json")
    attachments = evidence.root(settings)
    notify_public = settings.key_file(settings.notify_public_key_file, "notify_seal_public.pem")
    return IntakeContext(
        settings, load_cipher(key_file), attachments, notify_public.read_bytes(), Bank(settings)
    )


# --- the database and the context, for the web app and for a worker process -------------

db = Database()  # the web app's: bound by create_app, one session per request


@cache
def worker_db() -> Database:
    """The database of a worker process: one session per task (``transaction()``)."""
    settings = config.settings()
    return Database(
        settings.database_url,
        pool_size=settings.worker_db_pool_size,
        max_overflow=settings.worker_db_max_overflow,
    )


def context() -> IntakeContext:
    """The web app's context (built once by ``create_app``)."""
    return current_app.extensions["cb_context"]  # type: ignore[no-any-return]

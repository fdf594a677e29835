"""What intake's rules need besides the session: settings, the personal-data cipher, the
evidence directory."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from services.intake import config
from shared import evidence
from shared.pii import PiiCipher, load_cipher
from shared.settings import Settings


@dataclass(frozen=True)
class IntakeContext:
    settings: Settings
    cipher: PiiCipher
    attachments_dir: Path
    notify_public_pem: bytes  # seals a learner's phone number for notify


@cache
def worker_context() -> IntakeContext:
    """The context of a worker process, built once from its settings."""
    return build_context(config.settings())


def build_context(settings: Settings) -> IntakeContext:
    key_file = settings.key_file(settings.pii_key_file, "pii.json")
    attachments = evidence.root(settings)
    notify_public = settings.key_file(settings.notify_public_key_file, "notify_seal_public.pem")
    return IntakeContext(settings, load_cipher(key_file), attachments, notify_public.read_bytes())

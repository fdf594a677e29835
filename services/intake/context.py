"""What intake's rules need besides the session: settings, the personal-data cipher, the
evidence directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared import evidence
from shared.pii import PiiCipher, load_cipher
from shared.settings import Settings


@dataclass(frozen=True)
class IntakeContext:
    settings: Settings
    cipher: PiiCipher
    attachments_dir: Path


def build_context(settings: Settings) -> IntakeContext:
    key_file = settings.key_file(settings.pii_key_file, "pii.json")
    attachments = evidence.root(settings)
    return IntakeContext(settings, load_cipher(key_file), attachments)

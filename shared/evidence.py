"""The evidence store: PDF, JPEG and PNG files named by their SHA-256, in a directory intake
writes and review's workers read (a shared volume in docker-compose.yml)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from shared.settings import Settings

SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
CHUNK = 1024 * 1024


def root(settings: Settings) -> Path:
    return Path(settings.attachments_dir or Path(settings.var_dir) / "attachments")


def path_of(store: Path, sha256: str) -> Path:
    return store / sha256[:2] / sha256[2:4] / sha256


def content_type(head: bytes) -> str | None:
    """The content type by the file's first bytes, whatever its name says; None if unknown."""
    return next((kind for signature, kind in SIGNATURES if head.startswith(signature)), None)


def unreadable(store: Path, sha256: str) -> str | None:
    """Why the stored evidence cannot be read as what it claims to be, or None if it can:
    the file is there, its content still hashes to its name, and it is a PDF, JPEG or PNG."""
    path = path_of(store, sha256)
    digest, kind = hashlib.sha256(), None
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                if kind is None:
                    kind = content_type(chunk) or "unknown"
                digest.update(chunk)
    except FileNotFoundError:
        return "missing from the evidence store"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if digest.hexdigest() != sha256:
        return "content no longer matches its SHA-256"
    if kind in (None, "unknown"):
        return "not a PDF, JPEG or PNG"
    return None

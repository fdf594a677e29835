"""Evidence: PDF, JPEG or PNG up to the configured size, recognised by content, stored
content-addressed (the file's name is its SHA-256), so the same scan is kept once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.intake.context import IntakeContext
from services.intake.models import Attachment
from services.intake.scope import require_window_staff
from shared import evidence
from shared.auth import Principal
from shared.errors import FieldError, NotFound, Problem, ValidationProblem

CHUNK = evidence.CHUNK


class UnsupportedType(Problem):
    status, kind, title = 415, "unsupported-media-type", "Unsupported Media Type"


class TooLarge(Problem):
    status, kind, title = 413, "too-large", "Content Too Large"


def sniff(head: bytes) -> str:
    """The content type by the file's first bytes, whatever its name says."""
    content_type = evidence.content_type(head)
    if content_type is not None:
        return content_type
    raise UnsupportedType(
        "evidence must be a PDF, JPEG or PNG file",
        [
            FieldError(
                "file", "content is not PDF, JPEG or PNG (checked by content, not name)", "files"
            )
        ],
    )


def path_of(ctx: IntakeContext, sha256: str) -> Path:
    return evidence.path_of(ctx.attachments_dir, sha256)


def store(
    session: Session, ctx: IntakeContext, principal: Principal, stream: IO[bytes]
) -> tuple[Attachment, bool]:
    """Store an upload; return it and whether it is new (the same content is kept once)."""
    require_window_staff(principal)
    limit = ctx.settings.max_attachment_bytes
    ctx.attachments_dir.mkdir(parents=True, exist_ok=True)
    digest, size, content_type = hashlib.sha256(), 0, None
    with tempfile.NamedTemporaryFile(dir=ctx.attachments_dir, delete=False) as tmp:
        try:
            while chunk := stream.read(CHUNK):
                if content_type is None:
                    content_type = sniff(chunk)
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        f"evidence may be at most {limit // (1024 * 1024)} MB",
                        [FieldError("file", f"larger than {limit} bytes", "files")],
                    )
                digest.update(chunk)
                tmp.write(chunk)
            if content_type is None:
                raise ValidationProblem("the file is empty", [FieldError("file", "empty", "files")])
            tmp.flush()
            os.fsync(tmp.fileno())
        except BaseException:
            os.unlink(tmp.name)
            raise
    sha = digest.hexdigest()
    target = path_of(ctx, sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp.name, target)  # atomic; the same content lands on the same name
    inserted = session.execute(
        pg_insert(Attachment)
        .values(
            sha256=sha,
            content_type=content_type,
            size=size,
            uploaded_by_id=principal.staff_id,
            unit_path=principal.unit_path,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(Attachment.sha256)
    ).first()
    attachment = session.get_one(Attachment, sha)
    return attachment, inserted is not None


def require_attachments(session: Session, shas: Iterable[str]) -> None:
    """Every referenced attachment exists; a missing one is named by its position."""
    shas = list(shas)
    known = set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(shas))))
    missing = [
        FieldError(f"attachments.{i}", "no such attachment; upload it first")
        for i, sha in enumerate(shas)
        if sha not in known
    ]
    if missing:
        raise ValidationProblem("an attachment is not known", missing)


EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def described(session: Session, shas: list[str]) -> list[Attachment]:
    """The attachments named by ``shas``, in that order: what a viewer needs to know to show
    each (a PDF in a frame, an image as an image) before it reads the file."""
    found = {
        a.sha256: a for a in session.scalars(select(Attachment).where(Attachment.sha256.in_(shas)))
    }
    return [found[sha] for sha in shas if sha in found]


def of_application(
    session: Session, ctx: IntakeContext, application: Any, sha256: str
) -> tuple[Attachment, Path]:
    """A piece of evidence of ``application`` (any of its versions), and where it is stored;
    404 for anything else, whoever uploaded it. The caller checked the application's scope."""
    held = any(sha256 in version.attachments for version in application.versions)
    attachment = session.get(Attachment, sha256) if held else None
    path = path_of(ctx, sha256)
    if attachment is None or not path.is_file():
        raise NotFound(f"evidence {sha256} of application {application.id} not found")
    return attachment, path

"""One-shot job of docker-compose.yml: the deployment's secrets, made once and kept.

Writes into ``CB_SECRETS_DIR`` (a volume of its own), each file mode 0600 and never replaced:
- ``postgres-password``: read by the postgres image (``POSTGRES_PASSWORD_FILE``);
- ``pgpass``: the same password for every service (libpq reads it through ``PGPASSFILE``),
  so no database URL carries a password;
- ``flower-basic-auth``: ``user:password`` for Flower (``deploy/flowerconfig.py``).
``CB_POSTGRES_PASSWORD``, ``CB_FLOWER_USER`` and ``CB_FLOWER_PASSWORD`` choose them instead
of random ones, on the first run only.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def keep(path: Path, content: str) -> bool:
    """Write ``content`` to ``path`` (0600) unless it exists; True if written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    return True


def main() -> None:
    directory = Path(os.environ.get("CB_SECRETS_DIR", "/run/creditbank-secrets"))
    directory.mkdir(parents=True, exist_ok=True)
    password = os.environ.get("CB_POSTGRES_PASSWORD") or secrets.token_urlsafe(24)
    if keep(directory / "postgres-password", password):
        keep(directory / "pgpass", f"postgres:5432:*:postgres:{password}\n")
    flower = (
        f"{os.environ.get('CB_FLOWER_USER') or 'ops'}:"
        f"{os.environ.get('CB_FLOWER_PASSWORD') or secrets.token_urlsafe(12)}"
    )
    if keep(directory / "flower-basic-auth", flower):
        print(
            "Flower's user and password: docker compose exec flower "
            "cat /run/creditbank-secrets/flower-basic-auth"
        )
    print(f"secrets: present in {directory}")


if __name__ == "__main__":
    main()

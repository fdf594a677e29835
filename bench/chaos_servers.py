"""The chaos harness's own servers, on loopback and spare ports, under its temporary
directory: a PostgreSQL cluster (``initdb``) it may stop and start, a ``redis-server`` it may
restart empty, and an SMTP sink recording the Message-ID of every e-mail notify sends.
None of them is the machine's own (5432, 6379): those are never touched."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class OwnPostgres:
    """A throwaway cluster in ``<root>/pg``, run as the ``postgres`` user (PostgreSQL refuses
    root), listening on 127.0.0.1:``port`` only, trust authentication, no fsync."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root / "pg", port
        self.data, self.log = self.root / "data", self.root / "server.log"
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.made = False

    def _as_postgres(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*run_as, *argv], check=check, capture_output=True, text=True, timeout=120
        )

    def create(self) -> None:
        self.root.mkdir(parents=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
            os.chown(self.root.parent, pg.pw_uid, pg.pw_gid)
        self.made = True
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            " -c max_connections=300 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every connection is cut and the server shuts down cleanly."""
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
            check=False,
        )  # fmt: skip

    def remove(self) -> None:
        if self.made:
            self.stop("immediate")
            shutil.rmtree(self.root, ignore_errors=True)


class OwnRedis:
    """``redis-server`` on 127.0.0.1:``port`` keeping nothing on disk: a restart is empty."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.root)]  # fmt: skip
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _wait_port(self.port, 20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # a crash: nothing saved, nothing flushed
            self.proc.wait(timeout=20)
        self.proc = None

    def restart_empty(self) -> None:
        self.stop()
        self.start()


class SmtpSink:
    """An SMTP server (aiosmtpd) on loopback that keeps each message's Message-ID, one a line,
    in ``<root>/smtp-message-ids``: the checker counts each delivery's e-mails there."""

    def __init__(self, root: Path, port: int) -> None:
        self.port, self.path = port, root / "smtp-message-ids"
        self.controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        path = self.path

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                for line in envelope.content.decode("utf-8", "replace").splitlines():
                    if line.lower().startswith("message-id:"):
                        with path.open("a") as out:
                            out.write(line.split(":", 1)[1].strip() + "\n")
                        break
                return "250 OK"

        self.path.touch()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def message_ids(self) -> list[str]:
        return self.path.read_text().split() if self.path.exists() else []

    def stop(self) -> None:
        if self.controller is not None:
            with contextlib.suppress(Exception):
                self.controller.stop()
            self.controller = None

"""`make test`: the suite in two halves run at once, each a pytest run with a world of its own.

Most of the suite's time is spent waiting (on workers, relays, a browser, a restarted Redis),
so two runs side by side on two cores take about half the time of one. They cannot share a
process: the browser tests' session-wide system (services, relays, workers) would take other
tests' messages off the queues of the run's Redis DB. Each run makes its own databases, Redis
DB number and keys in its ``pytest_configure`` (tests/conftest.py), so the halves never meet.

The first half (the browser tests and the deployment checks) writes to
``var/first-half-tests.log``, printed when it is done; the second prints as it goes (not
under ``var/test-results``, which pytest-playwright empties when a run starts).
With arguments, this is one plain pytest run with those arguments.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST = ("tests/deploy", "tests/window")


def main(argv: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    if argv:
        return subprocess.call([*pytest, *argv], cwd=ROOT)
    log = ROOT / "var" / "first-half-tests.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("wb") as out:
        first = subprocess.Popen([*pytest, *FIRST], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            second = subprocess.call([*pytest, *(f"--ignore={path}" for path in FIRST)], cwd=ROOT)
            first_code = first.wait()
        except BaseException:
            first.terminate()
            first.wait()
            raise
    print(f"\n===== first half ({', '.join(FIRST)}) =====", flush=True)
    sys.stdout.buffer.write(log.read_bytes())
    print(
        f"\n===== both halves: first exited {first_code}, second {second}, "
        f"{time.monotonic() - started:.0f} s in all =====",
        flush=True,
    )
    return first_code or second


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

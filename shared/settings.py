"""Settings: defaults, then the environment (prefix ``CB_``), then explicit overrides.

Every service reads the same ``Settings``; what differs between services (its database, its
queues) is named by the service, so ``CB_ORG_DATABASE_URL`` and ``CB_INTAKE_DATABASE_URL`` sit
side by side in one environment.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "CB_"
SERVICES = ("org", "intake", "review", "notify")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_database_url(service: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/creditbank_{service}"


@dataclass(frozen=True)
class Settings:
    service: str = "org"
    env: str = "development"  # development | test | production
    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    var_dir: str = str(PROJECT_ROOT / "var")
    jwt_private_key_file: str = ""
    jwt_public_key_file: str = ""
    jwt_issuer: str = "creditbank-org"
    jwt_audience: str = "creditbank"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 7 * 24 * 3600
    revocation_cache_seconds: float = 1.0
    review_claim_seconds: int = 1800
    # Days a level has to decide a case: one figure for every level, or per level
    # ("acceptance_point=3,subcentre=5,branch=5,province=10"); fractions allowed.
    review_deadline_days: str = "5"
    review_reminder_hours: float = 24.0
    # An application in review this long without a change is checked against review's cases.
    reconcile_grace_seconds: int = 300
    # How often beat sends that check (intake.reconcile_reviews).
    reconcile_interval_seconds: float = 300.0
    # Sign-in throttle (services/org/throttle.py): failures per account and source address,
    # and per account from addresses it has not signed in from.
    login_failures_allowed: int = 5
    login_failure_window: int = 60
    login_account_failures_allowed: int = 50
    login_account_failure_window: int = 900
    # Proxies in front of every service whose X-Forwarded-For is believed (0: none, so the
    # source address is the connection's).
    trusted_proxy_hops: int = 0
    activation_code_ttl: int = 72 * 3600
    notify_public_key_file: str = ""
    password_time_cost: int = 3
    password_memory_cost: int = 65536
    max_body_bytes: int = 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    attachments_dir: str = ""
    # Bulk imports of social-training records: the file's limits, where files are kept
    # (default: var/imports), rows per chunk, and how long a stalled import waits to be resumed.
    max_import_bytes: int = 20 * 1024 * 1024
    max_import_rows: int = 100_000
    imports_dir: str = ""
    import_chunk_rows: int = 5000
    import_resume_seconds: int = 120
    pii_key_file: str = ""
    # Certificates: their signing keys' directory (default var/keys/certificates; never the
    # personal-data key), and how many years one is valid (0: as long as it is not revoked).
    certificate_keys_dir: str = ""
    certificate_valid_years: int = 0
    # The printed certificates' fonts, subset from the system's (services/intake/certificates/
    # fonts.py): made from what Debian installs, not data of a deployment, so one copy serves
    # every var directory (the tests' temporary ones too).
    fonts_dir: str = str(PROJECT_ROOT / "var" / "fonts")
    # How long a window may serve a learner after they presented their document there.
    account_ref_ttl: int = 8 * 3600
    task_time_limit: int = 300
    visibility_timeout: int = 3600
    # Task events for monitors: off by default, a quarter of a worker's CPU per task on 2
    # cores; Flower turns them on in the workers while it watches (its --enable_events).
    task_events: bool = False
    # How often a worker looks for messages a dead worker held past the visibility timeout.
    redelivery_check_seconds: int = 60
    # Notify: SMS through "file" (each message written under var/sms, for local runs) or
    # "http" (the gateway at sms_gateway_url); transient failures retried with backoff.
    sms_provider: str = "file"
    sms_gateway_url: str = ""
    sms_dir: str = ""  # where the file provider writes (default: var/sms)
    sms_gateway_timeout: float = 5.0
    webhook_timeout: float = 5.0
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ca_file: str = ""  # a private CA for the SMTP server's certificate (default: system)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "浙江省终身教育学分银行 <noreply@creditbank.zj>"
    smtp_timeout: float = 10.0
    # Messages per second per channel, across every notify worker.
    notify_rate_limits: str = "sms=20,email=20,webhook=50"
    notify_max_attempts: int = 6
    notify_retry_base_seconds: float = 30.0
    notify_retry_max_seconds: float = 3600.0
    # Intake's assessment score: a weight per indicator (unnamed ones weigh 0); see README.
    assessment_weights: str = (
        "accounts_opened=1,deposits=0.5,social_training_records=0.2,"
        "social_training_hours=0.01,turnaround_median_hours=-0.05,rejection_rate=-10"
    )
    # The window front end: where it reaches the four APIs (server to server, with the
    # signed-in person's token), how long an idle session lives, its own public address (in
    # receipts' QR codes), and the ID-card reader's local service on a window PC.
    org_url: str = "http://127.0.0.1:8001"
    intake_url: str = "http://127.0.0.1:8002"
    review_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    window_public_url: str = "http://127.0.0.1:8005"
    window_idle_seconds: int = 1800
    window_api_timeout: float = 15.0
    card_reader_url: str = "http://127.0.0.1:19196/readcard"
    # /metrics answers loopback, or this bearer token (empty: loopback only); the exporter
    # of queues, outboxes and backlogs (python -m shared.metrics_exporter) listens here.
    metrics_token: str = ""
    metrics_exporter_port: int = 9800
    # Database connections (SQLAlchemy's pool) of each process, by kind: a gunicorn worker
    # of a web service, and a Celery pool process (it runs one task at a time, so one
    # connection is its steady need). What a deployment may open in all is the sum over its
    # processes of size + overflow (docs/operations.md, the connection budget).
    web_db_pool_size: int = 5
    web_db_max_overflow: int = 10
    worker_db_pool_size: int = 1
    worker_db_max_overflow: int = 2
    # Traces: the OTLP/HTTP collector every process exports its spans to (its base URL,
    # e.g. http://collector:4318; /v1/traces is added). Empty: tracing off, no span made
    # (shared/tracing.py). The standard OTEL_EXPORTER_OTLP_ENDPOINT does not turn it on.
    otlp_endpoint: str = ""
    relay_batch_size: int = 200
    relay_idle_wait: float = 1.0
    # A Redis found empty: the outbox rows sent this long before are published again.
    relay_replay_seconds: float = 3600.0
    log_level: str = "INFO"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key_dir(self) -> Path:
        return Path(self.var_dir) / "keys"

    def key_file(self, configured: str, name: str) -> Path:
        return Path(configured) if configured else self.key_dir / name


def _coerce(raw: str, kind: Any) -> Any:
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw


def load_settings(
    service: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings of ``service`` from defaults, the environment and ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {"service": service}
    for f in dataclasses.fields(Settings):
        if f.name in ("service", "extra", "database_url"):
            continue
        raw = environ.get(PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _coerce(raw, f.type)
    values["database_url"] = environ.get(
        f"{PREFIX}{service.upper()}_DATABASE_URL", default_database_url(service)
    )
    known = {f.name for f in dataclasses.fields(Settings)}
    extra = {k: v for k, v in (overrides or {}).items() if k not in known}
    values.update({k: v for k, v in (overrides or {}).items() if k in known})
    values["extra"] = extra
    return Settings(**values)


def database_url(service: str, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(f"{PREFIX}{service.upper()}_DATABASE_URL", default_database_url(service))

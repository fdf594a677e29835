"""The certificate endpoints: the application at the window."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from services.intake.api import BEARER, IDEMPOTENCY, idempotent
from services.intake.certificates import applications as certificates
from services.intake.certificates import schemas as s
from services.intake.context import context, db
from shared.auth import current_principal

blp = Blueprint("certificates", __name__, description="Learning-outcome certificates")


@blp.post("/certificate-applications")
@blp.arguments(s.CertificateInSchema)
@blp.response(201, description="the certificate application, as GET /applications/{id} shows it")
@blp.alt_response(404, description="no such account within the caller's reach")
@blp.alt_response(409, description="the account is not open")
@blp.doc(security=BEARER, parameters=[IDEMPOTENCY])
def apply(body: dict[str, Any]) -> Response:
    """Apply for a certificate of the whole record or of chosen entries: it states each as
    the ledger holds it now, is reviewed like any application, and is issued once on its
    final approval."""
    principal = current_principal()
    return idempotent(
        "certificate-applications",
        body,
        lambda: certificates.take(db.session, context(), principal, certificates.request_of(body)),
    )

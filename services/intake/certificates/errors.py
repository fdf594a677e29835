"""What every refusal of this package is: a ``CertificateError`` with a stable code.

The code is for machines and for the window's wording (it words each code in Chinese); the
message is plain English for logs and for the offline verifier. Codes named after the W3C
specifications' error types keep those names (``PROOF_VERIFICATION_ERROR``,
``STATUS_LIST_LENGTH_ERROR``, ``RANGE_ERROR``, ``STATUS_VERIFICATION_ERROR``...).
"""

from __future__ import annotations


class CertificateError(Exception):
    """A certificate, payload, key list or status list refused, with the reason why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

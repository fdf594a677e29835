"""Access tokens: issued and signed by org (Ed25519), verified locally by every service.

A token carries the staff id, username, unit code, the unit's materialised path and the
roles, so a service can scope a request to the caller's subtree without calling org.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, g, request

from shared.errors import InvalidToken, Unauthorized
from shared.keys import write_keypair

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class Principal:
    staff_id: int
    username: str
    unit_code: str
    unit_path: str
    unit_level: str
    roles: frozenset[str]
    # An acceptance point's state (None for other units): the token's claim, replaced by the
    # point's live state from the shared revocation list when that answers. Intake takes
    # applications only from OPERATING points.
    unit_state: str | None = None
    # The sign-in (refresh-token family) the token was issued from; revoked as a whole.
    family_id: str | None = None
    # The unit's name as org knew it at sign-in, for what a service records or signs (a
    # certificate names the point that took it and the units that approved it).
    unit_name: str | None = None

    def covers(self, path: str) -> bool:
        """True when ``path`` is this principal's unit or lies beneath it."""
        return path.startswith(self.unit_path)

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def generate_keypair(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair (token signing) as PEM files."""
    write_keypair(Ed25519PrivateKey.generate(), private_path, public_path)


class TokenIssuer:
    def __init__(self, private_pem: bytes, issuer: str, audience: str, ttl: int) -> None:
        self._key = serialization.load_pem_private_key(private_pem, password=None)
        self.issuer, self.audience, self.ttl = issuer, audience, ttl

    def issue(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(principal.staff_id),
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "username": principal.username,
            "unit": principal.unit_code,
            "path": principal.unit_path,
            "level": principal.unit_level,
            "roles": sorted(principal.roles),
            "state": principal.unit_state,
        }
        if principal.family_id:
            claims["fam"] = principal.family_id
        if principal.unit_name:
            claims["unit_name"] = principal.unit_name
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]


class TokenVerifier:
    """Checks signature, issuer, audience and expiry. A token already verified is remembered
    (by its exact text, until it expires): a front end sends the same token many times, and
    the check costs more than the rest of a simple read."""

    CACHE_SIZE = 4096

    def __init__(self, public_pem: bytes, issuer: str, audience: str) -> None:
        self._key = serialization.load_pem_public_key(public_pem)
        self.issuer, self.audience = issuer, audience
        self._verified: dict[str, tuple[Principal, int]] = {}

    def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, int]:
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the access token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("the access token is not valid") from exc
        if claims.get("typ") != "access":
            raise InvalidToken("the token is not an access token")
        principal = Principal(
            staff_id=int(claims["sub"]),
            username=claims["username"],
            unit_code=claims["unit"],
            unit_path=claims["path"],
            unit_level=claims["level"],
            roles=frozenset(claims.get("roles", [])),
            unit_state=claims.get("state"),
            family_id=claims.get("fam"),
            unit_name=claims.get("unit_name"),
        )
        return principal, int(claims["exp"])


def init_app(
    app: Flask, verifier: TokenVerifier, check: Callable[[Principal], tuple[Principal, bool]]
) -> None:
    """Verify the bearer token of every request that carries one, then ``check`` the caller
    against the shared revocation list, which gives the caller as it is now (its point's live
    state) and whether Redis answered; views ask for the principal."""
    app.extensions["cb_auth"] = verifier

    @app.before_request
    def _load_principal() -> None:
        g.principal = None
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            principal = verifier.verify(header[7:].strip())
            g.principal, g.redis_available = check(principal)


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized()
    return principal  # type: ignore[no-any-return]

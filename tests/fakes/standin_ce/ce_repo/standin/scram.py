# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""Server side of SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802/7677) for the fake mongod.

Lets a real pymongo client authenticate as ``root`` with the maintenance password, so a
wrong or badly decrypted password fails against the stand-in as it would against MongoDB.
Only ASCII passwords are supported (SASLprep is the identity for them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

MECHANISMS = ("SCRAM-SHA-1", "SCRAM-SHA-256")
_ITERATIONS = {"SCRAM-SHA-1": 10000, "SCRAM-SHA-256": 15000}
_DIGEST = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}


class AuthError(Exception):
    """Authentication failed (MongoDB error code 18)."""


def _fields(message: bytes) -> dict[str, str]:
    result: dict[str, str] = {}
    for part in message.decode("utf-8").split(","):
        if len(part) >= 2 and part[1] == "=":
            result[part[0]] = part[2:]
    return result


class ScramServer:
    """One user, one password; a conversation is (mechanism, client-first-bare, server-first, nonce)."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self._password = password
        self._salt = os.urandom(16)
        self._salted: dict[str, bytes] = {}

    def _salted_password(self, mechanism: str) -> bytes:
        if mechanism not in self._salted:
            if mechanism == "SCRAM-SHA-1":  # MongoDB hashes the password first for SCRAM-SHA-1
                secret = hashlib.md5(f"{self.user}:mongo:{self._password}".encode(), usedforsecurity=False).hexdigest().encode()
            else:
                secret = self._password.encode("utf-8")
            self._salted[mechanism] = hashlib.pbkdf2_hmac(_DIGEST[mechanism], secret, self._salt, _ITERATIONS[mechanism])
        return self._salted[mechanism]

    def start(self, mechanism: str, payload: bytes) -> tuple[tuple[str, str, str, str], bytes]:
        if mechanism not in MECHANISMS:
            raise AuthError(f"Received authentication for mechanism {mechanism} which is not enabled")
        text = payload.decode("utf-8")
        if not text.startswith("n,"):
            raise AuthError("channel binding is not supported")
        bare = text.split(",", 2)[2]
        fields = _fields(bare.encode())
        user = fields.get("n", "").replace("=2C", ",").replace("=3D", "=")
        if user != self.user or "r" not in fields:
            raise AuthError("Authentication failed.")
        nonce = fields["r"] + base64.b64encode(os.urandom(18)).decode("ascii")
        server_first = f"r={nonce},s={base64.b64encode(self._salt).decode('ascii')},i={_ITERATIONS[mechanism]}"
        return (mechanism, bare, server_first, nonce), server_first.encode("utf-8")

    def finish(self, conversation: tuple[str, str, str, str], payload: bytes) -> bytes:
        mechanism, client_first_bare, server_first, nonce = conversation
        text = payload.decode("utf-8")
        without_proof, _, proof_part = text.rpartition(",p=")
        fields = _fields(without_proof.encode())
        if fields.get("r") != nonce or not proof_part:
            raise AuthError("Authentication failed.")
        digest = _DIGEST[mechanism]
        salted = self._salted_password(mechanism)
        client_key = hmac.new(salted, b"Client Key", digest).digest()
        stored_key = hashlib.new(digest, client_key).digest()
        auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, digest).digest()
        proof = base64.b64decode(proof_part)
        if len(proof) != len(signature):
            raise AuthError("Authentication failed.")
        recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(digest, recovered).digest(), stored_key):
            raise AuthError("Authentication failed.")
        server_key = hmac.new(salted, b"Server Key", digest).digest()
        server_signature = hmac.new(server_key, auth_message, digest).digest()
        return b"v=" + base64.b64encode(server_signature)

"""Encrypts the few secrets the server must read back (TOTP seeds, request-signing secrets).

AES-256-GCM under a key derived from settings.secret_key with HKDF-SHA256; `purpose` is bound as
associated data so a TOTP ciphertext cannot be replayed as a signing secret.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"scenecraft-secretbox", info=b"v1").derive(
            secret_key.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, purpose: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> str:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], purpose.encode()).decode()
        except InvalidTag:
            raise ValueError(f"stored {purpose} secret does not decrypt: was secret_key changed?") from None

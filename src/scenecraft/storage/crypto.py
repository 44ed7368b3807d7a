"""Envelope encryption at rest: AES-256-GCM with a data key per blob, wrapped by a master key.

    blob on disk  = MAGIC(4) || nonce(12) || AES-GCM(data_key, nonce, plaintext, aad=sha256)
    wrapped key   = nonce(12) || AES-GCM(master_key[key_id], nonce, data_key, aad=key_id|sha256)

The data key never leaves the process unwrapped. Binding the blob's SHA-256 as associated data
means a ciphertext swapped onto another address fails to decrypt. Rotating the master key only
re-wraps the 60-byte wrapped keys in the database; blob files are never rewritten.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SCB1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A blob or wrapped key failed authentication: wrong key, or the data was altered."""


@dataclass(frozen=True)
class SealedBlob:
    ciphertext: bytes  # what goes to the backend
    key_id: str  # master key that wrapped the data key
    wrapped_key: bytes


class Keyring:
    """Master keys by id; `active_id` wraps new data keys."""

    def __init__(self, keys: dict[str, bytes], active_id: str) -> None:
        if active_id not in keys:
            raise ValueError(f"active master key {active_id!r} is not in the keyring ({sorted(keys)})")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"master key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        self._keys = dict(keys)
        self.active_id = active_id

    def _master(self, key_id: str) -> AESGCM:
        try:
            return AESGCM(self._keys[key_id])
        except KeyError:
            raise DecryptionError(
                f"master key {key_id!r} is not configured; configured: {sorted(self._keys)}"
            ) from None

    def wrap(self, data_key: bytes, sha256: str, key_id: str | None = None) -> tuple[str, bytes]:
        key_id = key_id or self.active_id
        nonce = os.urandom(NONCE_BYTES)
        aad = f"{key_id}|{sha256}".encode()
        return key_id, nonce + self._master(key_id).encrypt(nonce, data_key, aad)

    def unwrap(self, key_id: str, wrapped: bytes, sha256: str) -> bytes:
        aad = f"{key_id}|{sha256}".encode()
        try:
            return self._master(key_id).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError(f"wrapped data key of blob {sha256} does not authenticate") from None

    def rewrap(self, key_id: str, wrapped: bytes, sha256: str) -> tuple[str, bytes]:
        """Re-wrap a data key under the active master key (rotation)."""
        return self.wrap(self.unwrap(key_id, wrapped, sha256), sha256)

    def seal(self, plaintext: bytes, sha256: str) -> SealedBlob:
        """The data key and the blob nonce are derived from the active master key and the address
        (HMAC-SHA256), not drawn at random: two writers racing to store the same bytes (two workers
        rendering the same effects, an upload retried) then write the *same* ciphertext, so whichever
        object lands last still opens with whichever wrapped key the database kept. Each address has
        its own key, and a key only ever encrypts the one plaintext of its address (bound again as
        AAD), so no nonce is reused; equal plaintexts are revealed only as far as the address already
        reveals them. That holds only while `sha256` is the plaintext's own digest, so it is checked."""
        if hashlib.sha256(plaintext).hexdigest() != sha256:
            raise ValueError("seal: sha256 is not the digest of the plaintext (a derived key would be reused)")
        data_key = self._derive(b"scenecraft blob key", sha256)
        nonce = self._derive(b"scenecraft blob nonce", sha256)[:NONCE_BYTES]
        body = AESGCM(data_key).encrypt(nonce, plaintext, sha256.encode())
        key_id, wrapped = self.wrap(data_key, sha256)
        return SealedBlob(MAGIC + nonce + body, key_id, wrapped)

    def _derive(self, label: bytes, sha256: str) -> bytes:
        mac = hmac.HMAC(self._keys[self.active_id], hashes.SHA256())
        mac.update(label + b"|" + sha256.encode())
        return mac.finalize()

    def open(self, ciphertext: bytes, key_id: str, wrapped: bytes, sha256: str) -> bytes:
        if not ciphertext.startswith(MAGIC):
            raise DecryptionError(f"blob {sha256} is not in the scenecraft encrypted format")
        data_key = self.unwrap(key_id, wrapped, sha256)
        nonce = ciphertext[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return AESGCM(data_key).decrypt(nonce, ciphertext[len(MAGIC) + NONCE_BYTES :], sha256.encode())
        except InvalidTag:
            raise DecryptionError(f"blob {sha256} does not authenticate (altered or wrong key)") from None

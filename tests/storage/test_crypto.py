"""Envelope encryption, checked by decrypting the stored format with `cryptography` directly."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from scenecraft.storage.crypto import MAGIC, DecryptionError, Keyring

K1, K2 = bytes(range(32)), bytes(range(1, 33))


def test_sealed_blob_decrypts_by_hand_with_the_documented_layout() -> None:
    data = b"scene bytes" * 100
    sha = hashlib.sha256(data).hexdigest()
    sealed = Keyring({"k1": K1}, "k1").seal(data, sha)
    # wrapped = nonce(12) || AES-GCM(master, nonce, data_key, aad="k1|sha")
    data_key = AESGCM(K1).decrypt(sealed.wrapped_key[:12], sealed.wrapped_key[12:], f"k1|{sha}".encode())
    assert len(data_key) == 32
    # blob = MAGIC || nonce(12) || AES-GCM(data_key, nonce, plaintext, aad=sha)
    assert sealed.ciphertext[:4] == MAGIC
    body = sealed.ciphertext[4:]
    assert AESGCM(data_key).decrypt(body[:12], body[12:], sha.encode()) == data
    assert data not in sealed.ciphertext


def unwrapped(sealed: object, master: bytes, sha: str) -> bytes:
    wrapped = sealed.wrapped_key  # type: ignore[attr-defined]
    return AESGCM(master).decrypt(wrapped[:12], wrapped[12:], f"k1|{sha}".encode())


def test_each_address_gets_its_own_data_key() -> None:
    ring = Keyring({"k1": K1}, "k1")
    one, two = hashlib.sha256(b"one").hexdigest(), hashlib.sha256(b"two").hexdigest()
    a, b = ring.seal(b"one", one), ring.seal(b"two", two)
    assert unwrapped(a, K1, one) != unwrapped(b, K1, two)
    assert Keyring({"k1": K2}, "k1").seal(b"one", one).ciphertext != a.ciphertext  # keyed by the master


def test_seal_refuses_an_address_that_is_not_the_plaintexts_digest() -> None:
    """The data key and nonce derive from the address: another plaintext under one address would
    reuse both (GCM's one fatal mistake), so a wrong digest is refused."""
    with pytest.raises(ValueError, match="not the digest of the plaintext"):
        Keyring({"k1": K1}, "k1").seal(b"two", hashlib.sha256(b"one").hexdigest())


def test_racing_writers_of_one_address_leave_an_object_either_row_opens() -> None:
    """Two writers store the same bytes at once: the object of the second (it lands last) must open
    with the wrapped key of the first (its row won the insert) — and the other way round."""
    data = b"the same effects render" * 50
    sha = hashlib.sha256(data).hexdigest()
    ring = Keyring({"k1": K1}, "k1")
    first, second = ring.seal(data, sha), ring.seal(data, sha)
    assert first.ciphertext == second.ciphertext and first.wrapped_key != second.wrapped_key  # wrap nonce is random
    assert ring.open(second.ciphertext, first.key_id, first.wrapped_key, sha) == data
    assert ring.open(first.ciphertext, second.key_id, second.wrapped_key, sha) == data


def test_tampering_and_wrong_keys_are_detected() -> None:
    ring = Keyring({"k1": K1}, "k1")
    sha = hashlib.sha256(b"payload").hexdigest()
    sealed = ring.seal(b"payload", sha)
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(DecryptionError, match="does not authenticate"):
        ring.open(bytes(flipped), sealed.key_id, sealed.wrapped_key, sha)
    with pytest.raises(DecryptionError, match="does not authenticate"):  # moved to another address
        ring.open(sealed.ciphertext, sealed.key_id, sealed.wrapped_key, "cd" * 32)
    with pytest.raises(DecryptionError, match="'k9' is not configured"):
        ring.open(sealed.ciphertext, "k9", sealed.wrapped_key, sha)


def test_rewrap_moves_a_key_to_the_active_master_and_old_key_can_go() -> None:
    sha = hashlib.sha256(b"payload").hexdigest()
    sealed = Keyring({"k1": K1}, "k1").seal(b"payload", sha)
    rotated = Keyring({"k1": K1, "k2": K2}, "k2")
    key_id, wrapped = rotated.rewrap(sealed.key_id, sealed.wrapped_key, sha)
    assert key_id == "k2"
    only_new = Keyring({"k2": K2}, "k2")
    assert only_new.open(sealed.ciphertext, key_id, wrapped, sha) == b"payload"


def test_keyring_validates_its_keys() -> None:
    with pytest.raises(ValueError, match="must be 32 bytes"):
        Keyring({"k1": b"short"}, "k1")
    with pytest.raises(ValueError, match="active master key 'k2' is not in the keyring"):
        Keyring({"k1": K1}, "k2")

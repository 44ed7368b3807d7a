"""`scenecraft serve --tls-cert/--tls-key`: HTTPS on a single machine, with HSTS when TLS is on."""

from __future__ import annotations

import datetime
import ipaddress
import signal
import ssl
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.utils.fixtures import make_settings
from tests.utils.processes import free_port, scenecraft

from scenecraft.cli import main


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.slow
def test_serve_with_tls_speaks_https_and_sends_hsts(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    args = ["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port), "--workers", "0"]
    server = scenecraft([*args, "--tls-cert", str(cert), "--tls-key", str(key)], log=log)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"server never answered over TLS:\n{log.read_text()}")
                time.sleep(0.3)
        assert r.status_code == 200
        assert r.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
        assert f"serving on https://127.0.0.1:{port}" in log.read_text()
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port is refused
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_hsts_follows_tls_unless_set(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    plain = make_settings(tmp_path, "sqlite://")
    assert not plain.hsts_enabled  # environment "test", no TLS here
    assert make_settings(tmp_path, "sqlite://", tls_cert=cert, tls_key=key).hsts_enabled
    assert make_settings(tmp_path, "sqlite://", environment="production").hsts_enabled  # behind a TLS ingress
    assert not make_settings(tmp_path, "sqlite://", tls_cert=cert, tls_key=key, hsts=False).hsts_enabled


def test_tls_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, _ = self_signed(tmp_path)
    data = ["serve", "--data-dir", str(tmp_path / "d")]
    with pytest.raises(SystemExit) as exit_info:
        main([*data, "--tls-cert", str(cert)])
    assert exit_info.value.code == 2 and "--tls-cert and --tls-key go together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*data, "--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing.pem")])
    assert f"--tls-key {tmp_path / 'missing.pem'}: no such file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        make_settings(tmp_path, "sqlite://", tls_cert=cert)

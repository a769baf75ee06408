"""The local CA and server certificate SMSGate phones in private-server mode trust (gateway/tls.py)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway import tls
from gateway.android_bridge.smsgate_private_api import PrivateSettings, tls_hosts


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_ca_and_the_server_certificate_are_what_android_needs(tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    cert_path, key_path, made = tls.ensure_server(tmp_path, ["192.168.1.2", "gateway.local"], now)
    assert made
    for path in (*tls.ca_paths(tmp_path), cert_path, key_path):
        assert os.stat(path).st_mode & 0o777 == 0o600
    ca, server = load(tls.ca_paths(tmp_path)[0]), load(cert_path)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.not_valid_after_utc - now > dt.timedelta(days=3649)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.168.1.2")]
    assert names.get_values_for_type(x509.DNSName) == ["gateway.local"]
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH
        in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert server.not_valid_after_utc - now <= dt.timedelta(days=tls.SERVER_DAYS)
    server.verify_directly_issued_by(ca)
    tls.server_context(cert_path, key_path)  # the pair loads


def test_the_server_certificate_is_kept_renewed_near_its_end_and_reissued_for_new_addresses(
    tmp_path: Path,
) -> None:
    now = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    cert_path, _, _ = tls.ensure_server(tmp_path, ["192.168.1.2"], now)
    ca_print, first = tls.fingerprint(tls.ca_paths(tmp_path)[0]), tls.fingerprint(cert_path)
    assert tls.ensure_server(tmp_path, ["192.168.1.2"], now + dt.timedelta(days=300))[2] is False
    assert tls.fingerprint(cert_path) == first
    assert tls.ensure_server(tmp_path, ["192.168.1.2"], now + dt.timedelta(days=380))[2] is True
    renewed = tls.fingerprint(cert_path)
    assert renewed != first
    assert tls.ensure_server(tmp_path, ["10.0.0.9"], now + dt.timedelta(days=380))[2] is True
    assert tls.fingerprint(cert_path) != renewed
    assert tls.fingerprint(tls.ca_paths(tmp_path)[0]) == ca_print  # the phones need nothing new


def test_broken_material_is_refused_not_replaced(tmp_path: Path) -> None:
    tls.ensure_ca(tmp_path)
    tls.ca_paths(tmp_path)[1].unlink()
    with pytest.raises(tls.TlsError, match="only half of the local CA"):
        tls.ensure_ca(tmp_path)
    other = tmp_path / "other"
    cert, _, _ = tls.ensure_server(other, ["127.0.0.1"])
    with pytest.raises(tls.TlsError, match="cannot use"):
        tls.server_context(cert, tls.ca_paths(other)[1])  # the CA's key does not go with the server's cert
    with pytest.raises(tls.TlsError, match="neither an IP address nor a host name"):
        tls.ensure_server(other, ["bad host name"])
    (other / "server.crt").write_text("no es un certificado")
    with pytest.raises(tls.TlsError, match="not a PEM certificate"):
        tls.ensure_server(other, ["127.0.0.1"])


def test_the_certificate_names_the_address_the_phone_dials(tmp_path: Path) -> None:
    def settings(listen: str, url: str | None) -> PrivateSettings:
        return PrivateSettings(listen, "p", "/p", url, "token-privado", tmp_path, tmp_path)

    assert tls_hosts(settings("0.0.0.0:8443", "https://192.168.1.2:8443/smsgate-private/p")) == [
        "192.168.1.2"
    ]
    assert tls_hosts(settings("10.0.0.5:8443", None)) == ["10.0.0.5"]
    with pytest.raises(tls.TlsError, match="give `url`"):
        tls_hosts(settings("0.0.0.0:8443", None))

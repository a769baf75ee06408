"""HTTPS the site's phones will trust: a local certificate authority and the gateway's server certificate.

SMSGate in private-server mode refuses plain HTTP (its release build forbids cleartext), so the gateway
serves the phone over HTTPS. A site has no domain and often no internet, so a public CA is out of reach; the
app trusts user-installed CAs (``reference/android-apps.md`` §2.0, §7). The gateway therefore makes:

- a **CA** (``ca.crt``, ``ca.key``), valid ``CA_DAYS``: the technician installs ``ca.crt`` on each phone once;
- a **server certificate** (``server.crt``, ``server.key``) signed by that CA for the addresses the phone
  dials (subject alternative names: Android checks only those), valid ``SERVER_DAYS``. It is renewed when it
  nears its end or the addresses change, and because the phone trusts the CA, not this certificate,
  nothing has to be done on the phones when that happens.

Keys are EC P-256 (every Android since 4.0 speaks ECDSA). Every file is written whole to a temporary file
and renamed, mode 0600, so a crash never leaves half a key and no other user can read one. A technician who
has a certificate of their own gives ``tls_cert``/``tls_key`` instead, and none of this is made.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import re
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.private_files import write_private

CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a server certificate; the phone never has to be touched to renew
RENEW_BEFORE_DAYS = 30
CA_NAME = "recado gateway local CA"
HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class TlsError(ValueError):
    pass


def ca_paths(directory: Path) -> tuple[Path, Path]:
    return directory / "ca.crt", directory / "ca.key"


def server_paths(directory: Path) -> tuple[Path, Path]:
    return directory / "server.crt", directory / "server.key"


def ensure_ca(directory: Path, now: dt.datetime | None = None) -> Path:
    """The CA certificate's path; the CA is made the first time. A CA with a missing half is an error, not
    a reason to make a new one (the phones trust the old one)."""
    cert_path, key_path = ca_paths(directory)
    if cert_path.exists() and key_path.exists():
        _load_pair(cert_path, key_path)
        return cert_path
    if cert_path.exists() or key_path.exists():
        raise TlsError(
            f"{directory} holds only half of the local CA ({cert_path.name} and {key_path.name} go together)"
        )
    moment = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - dt.timedelta(hours=1))  # a phone whose clock runs a little behind
        .not_valid_after(moment + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _key_pem(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def ensure_server(
    directory: Path, hosts: list[str], now: dt.datetime | None = None
) -> tuple[Path, Path, bool]:
    """The server certificate and key for ``hosts`` (IP addresses or names), and whether they were just
    made: kept while valid for more than ``RENEW_BEFORE_DAYS`` and issued for exactly these hosts."""
    if not hosts:
        raise TlsError("no address for the server certificate: give the URL the phone dials")
    moment = now or dt.datetime.now(dt.UTC)
    ensure_ca(directory, moment)
    cert_path, key_path = server_paths(directory)
    wanted = _san(hosts)
    if cert_path.exists() and key_path.exists():
        current, _ = _load_pair(cert_path, key_path)
        with contextlib.suppress(x509.ExtensionNotFound):
            issued = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            fresh = current.not_valid_after_utc - moment > dt.timedelta(days=RENEW_BEFORE_DAYS)
            if fresh and set(issued) == set(wanted) and _signed_by_ca(current, directory):
                return cert_path, key_path, False
    ca_cert, ca_key = _load_pair(*ca_paths(directory))
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(moment + dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - dt.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(wanted), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(key_path, _key_pem(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path, True


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """What the listener serves with; a certificate and key that do not belong together are refused here."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # Android 5 has TLS 1.2 on by default
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as error:
        raise TlsError(f"cannot use {cert_file} with {key_file}: {error}") from error
    return context


def fingerprint(cert_file: Path) -> str:
    """SHA-256 of the certificate, as Android shows it under the installed certificate's details."""
    cert = _load_cert(cert_file)
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def expires(cert_file: Path) -> dt.datetime:
    return _load_cert(cert_file).not_valid_after_utc


def _san(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip("[]") for h in hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if len(host) > 253 or not HOST_NAME.fullmatch(host):
                raise TlsError(f"{host!r} is neither an IP address nor a host name") from None
            names.append(x509.DNSName(host))
    return names


def _signed_by_ca(cert: x509.Certificate, directory: Path) -> bool:
    ca_cert = _load_cert(ca_paths(directory)[0])
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as error:
        raise TlsError(f"cannot read {path}: {error.strerror or error}") from error
    except ValueError as error:
        raise TlsError(f"{path} is not a PEM certificate") from error


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = _load_cert(cert_path)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as error:
        raise TlsError(f"cannot read {key_path}: {error.strerror or error}") from error
    except (ValueError, TypeError) as error:
        raise TlsError(f"{key_path} is not an unencrypted PEM private key") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{key_path} is not the EC key recado makes")
    return cert, key

"""A small certificate authority for a barto fleet: one CA, a certificate per server and per
worker, so that TLS, pinning and mTLS take minutes to turn on (docs/security.md).

Keys are ECDSA P-256 (every TLS stack speaks it); a server certificate carries its names as
subject alternative names (DNS names and IP addresses, which is what hostname verification
reads); a client certificate carries the worker's name as its common name and as a DNS name,
which is what bartos binds a worker's identity to.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from barto.errors import Invalid

CA_DAYS = 3650
LEAF_DAYS = 825  # the longest validity clients such as Apple's still accept for TLS servers


class PkiError(Invalid):
    """A file that is missing, already there, or not what it should be."""

    code = "pki"


@dataclass(frozen=True)
class Issued:
    """Where a certificate and its key were written."""

    cert: Path
    key: Path


def init(directory: Path, name: str = "barto CA", days: int = CA_DAYS) -> Issued:
    """Create the CA (``ca.pem``, ``ca-key.pem``) in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = _builder(subject, subject, key.public_key(), days).add_extension(
        x509.BasicConstraints(ca=True, path_length=0), critical=True
    )
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # cert + CRL sign
    cert = builder.add_extension(usage, critical=True).sign(key, hashes.SHA256())
    return _write(directory, "ca", cert, key)


def server(directory: Path, name: str, names: list[str], days: int = LEAF_DAYS) -> Issued:
    """A server certificate for ``name`` and every one of ``names`` (host names or IPs)."""
    return _leaf(directory, name, [name, *names], ExtendedKeyUsageOID.SERVER_AUTH, days)


def client(directory: Path, name: str, days: int = LEAF_DAYS) -> Issued:
    """A client certificate naming the worker (or operator) ``name``."""
    return _leaf(directory, name, [name], ExtendedKeyUsageOID.CLIENT_AUTH, days)


def _leaf(directory: Path, name: str, names: list[str], usage: x509.ObjectIdentifier, days: int) -> Issued:
    ca_cert, ca_key = _load_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = _builder(subject, ca_cert.subject, key.public_key(), days)
    builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    return _write(directory, name, builder.sign(ca_key, hashes.SHA256()), key)


def _builder(
    subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a little clock skew between machines
        .not_valid_after(now + timedelta(days=days))
    )


def _alt_names(names: list[str]) -> list[x509.GeneralName]:
    found: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):  # in order, once each
        try:
            found.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            found.append(x509.DNSName(name))
    return found


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), password=None)
    except FileNotFoundError as error:
        raise PkiError(f"{error.filename}: no CA there; run `barto-cli certs init` first") from None
    except ValueError as error:
        raise PkiError(f"{directory}: the CA files do not load: {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{directory / 'ca-key.pem'}: not a key made by `barto-cli certs init`")
    return cert, key


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    """Write ``stem.pem`` and ``stem-key.pem`` (mode 0600); never over existing files."""
    issued = Issued(cert=directory / f"{stem}.pem", key=directory / f"{stem}-key.pem")
    for path in (issued.cert, issued.key):
        if path.exists():
            raise PkiError(f"{path} exists already; remove it to issue a new one")
    directory.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(issued.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return issued

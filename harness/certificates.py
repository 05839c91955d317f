"""The sandbox's TLS: a fresh local CA per run and one certificate for the names it serves.

Browsers are told to trust the certificate by its key (Chromium's
``--ignore-certificate-errors-spki-list``), which keeps every other TLS check on; Python clients
trust the CA file. Nothing of it outlives the sandbox's work folder.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path
    spki: str  # base64 SHA-256 of the certificate's SubjectPublicKeyInfo

    def uvicorn_options(self) -> dict[str, str]:
        return {"ssl_certfile": str(self.cert_file), "ssl_keyfile": str(self.key_file)}


def issue(work: Path, hostnames: list[str]) -> Certificates:
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    cert = ca.issue_cert(*hostnames, "127.0.0.1")
    files = Certificates(work / "ca.pem", work / "cert.pem", work / "key.pem", "")
    ca.cert_pem.write_to_path(str(files.ca_file))
    cert.private_key_pem.write_to_path(str(files.key_file))
    cert.cert_chain_pems[0].write_to_path(str(files.cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert_file), append=True)
    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    public = leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Certificates(files.ca_file, files.cert_file, files.key_file, base64.b64encode(hashlib.sha256(public).digest()).decode())

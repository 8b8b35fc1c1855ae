"""A user's program written against the documented public API only (``cmpkit.Client``, ``Enrollment``,
``GeneralInfo`` and the ``cmpkit.CmpError`` tree): tests/test_api_typing.py checks it with
``mypy --strict`` and runs it against the in-process mock server.

Usage: python user_api_example.py ISSUED_CERT.pem KEY_OF_ISSUED_CERT.pem
"""
from __future__ import annotations

import sys
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cmpkit
from cmpkit.api import GeneralInfo


def enroll_and_revoke(server: str, key: ec.EllipticCurvePrivateKey, mock_cert: str) -> list[str]:
    """What a user does: enroll, look at the result, ask for CA certificates, revoke."""
    lines: list[str] = []
    options = {"srv_ref": "1", "srv_secret": "pass:1234", "rsp_cert": mock_cert}
    with cmpkit.Client(server, secret=b"1234", ref="1", timeout=30.0, options=options) as client:
        enrollment: cmpkit.Enrollment = client.enroll(key, "CN=example", sans=["example.org"])
        cert: x509.Certificate = enrollment.certificate
        lines.append(cert.subject.rfc4514_string())
        lines.extend(c.subject.rfc4514_string() for c in enrollment.chain + enrollment.ca_certs)
        infos: list[GeneralInfo] = client.general_message("caCerts")
        lines.extend(info.oid for info in infos)
        client.revoke(cert, x509.ReasonFlags.superseded)
    return lines


def explain(exc: cmpkit.CmpError) -> str:
    status: Optional[int] = exc.status
    fail_info: Optional[int] = exc.fail_info
    text: Optional[str] = exc.status_text
    return f"{type(exc).__name__}: {exc} (status={status}, failInfo={fail_info}, text={text})"


def main(argv: list[str]) -> int:
    with open(argv[1], "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        print("an EC key is expected", file=sys.stderr)
        return 2
    try:
        for line in enroll_and_revoke("mock://", key, argv[0]):
            print(line)
    except cmpkit.ServerError as exc:
        print(explain(exc), file=sys.stderr)
        return 1
    except cmpkit.CmpError as exc:
        print(explain(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

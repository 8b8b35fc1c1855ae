"""Reads the CRL files named by -crls (PEM or DER) into the DER CRLs the verification core takes."""
from __future__ import annotations

import re

from ..core.lazy import x509  # imported when a CRL is read
from ..core.verify.options import config_list
from ..errors import CredentialError


def load_crls(source: str) -> list:
    """The CRLs (as DER) in one PEM or DER file named by ``-crls``."""
    try:
        with open(source, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CredentialError(f"cannot read CRL file '{source}' (-crls): {exc.strerror or exc}") from None
    from cryptography.hazmat.primitives.serialization import Encoding
    blocks = re.findall(rb"-----BEGIN X509 CRL-----.*?-----END X509 CRL-----", data, re.S)
    try:
        crls = [x509.load_pem_x509_crl(b) for b in blocks] if blocks else [x509.load_der_x509_crl(data)]
    except ValueError:
        raise CredentialError(f"cannot load CRL from '{source}' (-crls): not a PEM or DER CRL") from None
    return [c.public_bytes(Encoding.DER) for c in crls]


def crls_from_config(cfg) -> tuple:
    """The DER CRLs of all files the ``-crls`` option of ``cfg`` names, in order."""
    return tuple(der for source in config_list(cfg, "crls") for der in load_crls(source))

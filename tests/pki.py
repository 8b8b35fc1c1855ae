"""A test PKI made at test time with cryptography: CA hierarchy, CMP server and client credentials."""
from __future__ import annotations

import datetime
import pathlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def rsa_key(bits: int = 2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(subject_key, subject: str, issuer_key=None, issuer_cert=None, *, ca=False, path_len=None,
              not_before=None, not_after=None, key_usage=None, eku=None, sans=None, serial=None,
              extra_extensions=()):
    issuer_key = issuer_key or subject_key
    issuer_name = issuer_cert.subject if issuer_cert is not None else name(subject)
    b = (x509.CertificateBuilder()
         .subject_name(name(subject)).issuer_name(issuer_name)
         .public_key(subject_key.public_key())
         .serial_number(serial or x509.random_serial_number())
         .not_valid_before(not_before or NOW - datetime.timedelta(hours=1))
         .not_valid_after(not_after or NOW + datetime.timedelta(days=30))
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), False))
    if issuer_cert is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False)
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=path_len), True)
        ku = key_usage or dict(key_cert_sign=True, crl_sign=True, digital_signature=True)
    else:
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        ku = key_usage or dict(digital_signature=True, key_encipherment=True)
    full = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False)
    full.update(ku)
    b = b.add_extension(x509.KeyUsage(**full), True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), False)
    for ext, critical in extra_extensions:
        b = b.add_extension(ext, critical)
    return b.sign(issuer_key, hashes.SHA256())


def pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key, password: bytes | None = None) -> bytes:
    enc = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


@dataclass
class TestPKI:
    """Files of a small PKI in ``dir``: root CA -> issuing CA -> server / client / issued certs."""

    dir: pathlib.Path
    files: dict = field(default_factory=dict)
    objs: dict = field(default_factory=dict)

    def path(self, key: str) -> str:
        return str(self.files[key])

    def write(self, key: str, filename: str, data: bytes) -> str:
        p = self.dir / filename
        p.write_bytes(data)
        self.files[key] = p
        return str(p)


def build(directory: pathlib.Path) -> TestPKI:
    pki = TestPKI(pathlib.Path(directory))
    root_key, issuing_key = rsa_key(), rsa_key()
    root = make_cert(root_key, "Root CA", ca=True)
    issuing = make_cert(issuing_key, "Issuing CA", root_key, root, ca=True, path_len=0)
    server_key = ec_key()
    server = make_cert(server_key, "server.example", issuing_key, issuing,
                       key_usage=dict(digital_signature=True))
    client_key = rsa_key()
    client = make_cert(client_key, "client", issuing_key, issuing, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    new_key = ec_key()
    issued = make_cert(new_key, "leaf", issuing_key, issuing)       # what the mock server hands out
    other_key = rsa_key()
    attacker = make_cert(other_key, "attacker", issuing_key, issuing)
    pki.objs.update(root=root, root_key=root_key, issuing=issuing, issuing_key=issuing_key, server=server,
                    server_key=server_key, client=client, client_key=client_key, issued=issued,
                    new_key=new_key, attacker=attacker, attacker_key=other_key)
    pki.write("root", "root.crt", pem_cert(root))
    pki.write("issuing", "issuing.crt", pem_cert(issuing))
    pki.write("chain", "chain.crt", pem_cert(issuing) + pem_cert(root))
    pki.write("server", "server.crt", pem_cert(server))
    pki.write("server_key", "server.key", pem_key(server_key))
    pki.write("client", "client.crt", pem_cert(client))
    pki.write("client_key", "client.key", pem_key(client_key))
    pki.write("issued", "issued.crt", pem_cert(issued))
    pki.write("new_key", "new.key", pem_key(new_key))
    pki.write("attacker", "attacker.crt", pem_cert(attacker))
    pki.write("attacker_key", "attacker.key", pem_key(other_key))
    return pki


# ---------------------------------------------------------------- post-quantum (ML-DSA) PKI
# cryptography's CertificateBuilder refuses ML-DSA keys: cmpkit.core.certbuild assembles these.

def mldsa_key(size: int = 65):
    from cryptography.hazmat.primitives.asymmetric import mldsa
    return getattr(mldsa, f"MLDSA{size}PrivateKey").generate()


def make_pq_cert(subject_key, subject: str, issuer_key=None, issuer_cert=None, *, ca=False, key_usages=None,
                 not_before=None, not_after=None, serial=None):
    """A certificate built with cmpkit.core.certbuild (any supported key type), as cryptography's Certificate."""
    from cmpkit.core import certbuild
    der = certbuild.build_certificate(
        issuer_key or subject_key, subject=name(subject),
        issuer=issuer_cert.subject if issuer_cert is not None else name(subject),
        subject_public_key=subject_key.public_key(), serial=serial or x509.random_serial_number(),
        not_before=not_before or NOW - datetime.timedelta(hours=1),
        not_after=not_after or NOW + datetime.timedelta(days=30), ca=ca, key_usages=key_usages,
        issuer_public_key=issuer_key.public_key() if issuer_cert is not None else None)
    return x509.load_der_x509_certificate(der)


def build_pq(directory: pathlib.Path) -> TestPKI:
    """ML-DSA-65 root -> ML-DSA-65 server (mock) and ML-DSA-44 client certificates, an ML-DSA-87 new
    key with its certificate (what the mock hands out for -newkey), and an RSA root's ML-DSA EE."""
    pki = TestPKI(pathlib.Path(directory))
    root_key = mldsa_key(65)
    root = make_pq_cert(root_key, "PQ Root CA", ca=True)
    server_key, client_key, new_key = mldsa_key(65), mldsa_key(44), mldsa_key(87)
    server = make_pq_cert(server_key, "pq-server", root_key, root)
    client = make_pq_cert(client_key, "pq-client", root_key, root)
    issued = make_pq_cert(new_key, "pq-leaf", root_key, root)
    pki.objs.update(root=root, root_key=root_key, server=server, server_key=server_key, client=client,
                    client_key=client_key, issued=issued, new_key=new_key)
    for key in ("root", "server", "client", "issued"):
        pki.write(key, f"pq-{key}.crt", pem_cert(pki.objs[key]))
    for key in ("server_key", "client_key", "new_key"):
        pki.write(key, f"pq-{key}.pem", pem_key(pki.objs[key]))
    return pki

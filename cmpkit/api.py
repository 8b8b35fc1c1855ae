"""The public Python API: :class:`Client` enrolls, updates and revokes certificates and sends general
messages; :class:`Enrollment` is what an enrollment gives. Imported as ``cmpkit.Client``.

The API is a thin layer over the command's code: it builds a Config from its arguments (the
``openssl cmp`` options of the same names), gets ClientSettings from
:func:`cmpkit.app.settings.build_client_settings` with openssl's checks and fallbacks, and runs
the core's ClientMachine through :class:`cmpkit.app.transaction.Client`, with the plugins'
hooks (credentials, transports by URL scheme, verification policy, observation) as in the command.
Objects (``cryptography`` keys and certificates, key handles, secrets as bytes) are handed to
the loading code in memory; file names are loaded by the plugins as in the command.

Every failure raises a :class:`cmpkit.CmpError` subclass; when the server sent a PKIStatusInfo
(an error message, a rejection) it is a :class:`cmpkit.ServerError` whose ``status``,
``fail_info`` and ``status_text`` say what the server sent.

Example::

    with cmpkit.Client("http://ca.example:8080/pkix/", secret=b"1234", ref="client",
                       trusted=["root.pem"]) as client:
        enrollment = client.enroll(ec.generate_private_key(ec.SECP256R1()), "CN=device 42")
        print(enrollment.certificate.subject)
"""
from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from cryptography import x509

from .errors import CmpError, ConfigError, ServerError, TransactionError
from .types import Signer, Transport

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from .app.credentials import Loader
    from .core.client import ClientSettings, Result
    from .core.message import PKIMessage, StatusInfo

    KeyLike = Union[PrivateKeyTypes, Signer]
else:
    KeyLike = Any

PathLike = Union[str, "os.PathLike[str]"]
CertLike = Union[x509.Certificate, PathLike]
Secret = Union[str, bytes]

__all__ = ["Client", "Enrollment", "GeneralInfo"]

# CRLReason codes (RFC 5280 5.3.1) of cryptography's ReasonFlags
_REASON_CODES = {
    "unspecified": 0, "key_compromise": 1, "ca_compromise": 2, "affiliation_changed": 3, "superseded": 4,
    "cessation_of_operation": 5, "certificate_hold": 6, "remove_from_crl": 8, "privilege_withdrawn": 9,
    "aa_compromise": 10,
}
_PLACEHOLDER_OUT = "\x00cmpkit-api:no-output"  # enrollments return the certificate, never write it


@dataclass
class Enrollment:
    """A newly enrolled certificate and what came with it.

    :ivar certificate: the new certificate.
    :ivar chain: its issuers as the client could build them from the response's extraCerts and
        ``untrusted`` (without the trust anchor), nearest first.
    :ivar ca_certs: the response's caPubs (certificates the CA suggests to trust).
    :ivar extra_certs: the extraCerts of the response.
    :ivar status: the PKIStatus of the certificate response (0 accepted, 1 grantedWithMods, ...).
    """

    certificate: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)
    ca_certs: list[x509.Certificate] = field(default_factory=list)
    extra_certs: list[x509.Certificate] = field(default_factory=list)
    status: Optional[int] = None


@dataclass
class GeneralInfo:
    """One InfoTypeAndValue of a general response (genp).

    :ivar oid: the infoType, dotted.
    :ivar name: its name without ``id-it-`` (e.g. ``"caCerts"``), None when unknown.
    :ivar value: decoded where cmpkit knows the type (caCerts: a list of certificates,
        rootCaCert: a certificate, currentCRL: a CRL), else the DER of the value; None when absent.
    """

    oid: str
    name: Optional[str]
    value: Any


def _certs(ders: Iterable[bytes]) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(d) for d in ders]


def _name_der(name: Union[str, x509.Name], what: str) -> bytes:
    if isinstance(name, x509.Name):
        return name.public_bytes()
    try:
        return x509.Name.from_rfc4514_string(name).public_bytes()
    except ValueError as exc:
        raise ConfigError(f"invalid {what} '{name}' (an RFC 4514 string): {exc}") from None


def _general_name(item: Union[str, x509.GeneralName]) -> x509.GeneralName:
    if isinstance(item, x509.GeneralName):
        return item
    try:
        return x509.IPAddress(ipaddress.ip_address(item))
    except ValueError:
        pass
    if "://" in item:
        return x509.UniformResourceIdentifier(item)
    if "@" in item:
        return x509.RFC822Name(item)
    return x509.DNSName(item)


def _signer(key: Any, what: str) -> Signer:
    """A key handle for a ``cryptography`` private key, or the handle itself."""
    from .core.keys import as_signer
    signer: Optional[Signer] = as_signer(key)
    if signer is None:
        raise ConfigError(f"{what} must be a cryptography private key or a key handle (cmpkit.types.Signer), "
                          f"not {type(key).__name__}")
    return signer


def _status_of(rsp: Optional["PKIMessage"]) -> Optional["StatusInfo"]:
    """The negative PKIStatusInfo a response carries (error message, rejection), if any."""
    if rsp is None:
        return None
    from .core import bodies
    try:
        if rsp.body_type == "error":
            return bodies.read_error(rsp.body_content)[0]
        if rsp.body_type in ("ip", "cp", "kup"):
            statuses = [r.status for r in bodies.read_cert_rep(rsp.body_content)[1]]
        elif rsp.body_type == "rp":
            statuses = bodies.read_rev_rep(rsp.body_content)
        else:
            return None
    except CmpError:
        return None
    for si in statuses:
        if si.status not in (0, 1):  # not accepted / grantedWithMods
            return si
    return None


class _ApiLoader:
    """Builds the shell's Loader that also knows the API's in-memory objects, named by sources
    that no file can have (they start with a NUL)."""

    @staticmethod
    def make(cfg: Any) -> "Loader":
        from .app.credentials import Loader

        class ApiLoader(Loader):
            objects: dict[str, tuple[str, Any]] = {}

            def get_pass(self, arg: Optional[str], what: str) -> Optional[bytes]:
                entry = self.objects.get(arg or "")
                if entry is not None:
                    value: bytes = entry[1]
                    return value
                return super().get_pass(arg, what)

            passphrase = get_pass

            def certs(self, sources: Iterable[str], what: str, passarg: Optional[str] = None) -> list[bytes]:
                out: list[bytes] = []
                for src in sources:
                    kind, value = self.objects.get(src, ("source", src))
                    if kind == "cert":
                        out.append(value)
                    else:
                        out.extend(super().certs([value], what, passarg))
                return out

            def key(self, source: str, passarg: Optional[str], what: str) -> Any:
                kind, value = self.objects.get(source, ("source", source))
                return value if kind == "key" else super().key(value, passarg, what)

            def public_key(self, source: str, passarg: Optional[str], what: str) -> Any:
                kind, value = self.objects.get(source, ("source", source))
                return value.public_key() if kind == "key" else super().public_key(value, passarg, what)

        loader = ApiLoader(cfg, batch=True)
        loader.objects = {}
        return loader


class Client:
    """A CMP client for one server; a context manager (``with cmpkit.Client(...) as client:``).

    :param server: the server's URL; its scheme chooses the transport (``http://``, ``https://``
        from the http plugin, ``mock://`` the in-process mock server, a third party's scheme);
        ``host[:port][/path]`` without a scheme means http. Ignored for the transport when
        ``transport`` is given.
    :param secret: the shared secret for MAC-based protection (PBM), as str or bytes.
    :param ref: the reference (senderKID) that goes with ``secret``, as str or bytes.
    :param cert: the client's certificate for signature-based protection (a ``cryptography``
        certificate or a file name); its further certificates in a file count as untrusted.
    :param key: the private key of ``cert`` (a ``cryptography`` private key, a key handle
        implementing :class:`cmpkit.types.Signer` such as a PKCS#11 key, or a file name or URI).
    :param trusted: trust anchors for the server's signature (certificates or file names).
    :param untrusted: intermediate certificates for building chains (certificates or file names).
    :param srvcert: the server's certificate, trusted directly (instead of ``trusted``).
    :param recipient: the recipient name of requests (an RFC 4514 string or an ``x509.Name``);
        by default the one openssl would choose.
    :param timeout: seconds a transaction may take at most (``-total_timeout``); None: no limit.
    :param transport: a :class:`cmpkit.types.Transport` (or a function request DER -> response
        DER) to use instead of the one ``server``'s scheme selects.
    :param options: further ``openssl cmp`` options by name without the dash, typed: True for a
        flag, an int for a number, else a str (e.g. ``{"digest": "sha384", "tls_used": True,
        "keep_alive": 0}``; for ``mock://`` the mock server's ``-srv_*``/``-rsp_*`` options).
    """

    def __init__(self, server: str, *, secret: Optional[Secret] = None, ref: Optional[Secret] = None,
                 cert: Optional[CertLike] = None, key: Optional[Union[KeyLike, PathLike]] = None,
                 trusted: Optional[Sequence[CertLike]] = None, untrusted: Optional[Sequence[CertLike]] = None,
                 srvcert: Optional[CertLike] = None, recipient: Optional[Union[str, x509.Name]] = None,
                 timeout: Optional[float] = None, transport: Optional[Union[Transport, Callable[[bytes], bytes]]] = None,
                 options: Optional[Mapping[str, Any]] = None) -> None:
        self.server = server
        self._secret, self._ref, self._cert, self._key = secret, ref, cert, key
        self._trusted, self._untrusted = list(trusted or ()), list(untrusted or ())
        self._srvcert = srvcert
        self._recipient = None if recipient is None else _name_der(recipient, "recipient")
        if timeout is not None and timeout <= 0:
            raise ConfigError("timeout must be positive (seconds) or None")
        self._timeout = timeout
        self._given_transport = transport
        self._options = dict(options or {})
        self._transport: Optional[Transport] = None
        self._base_cfg: Any = None
        self._closed = False
        from . import cli
        from .core.options import Config
        all_options: Callable[[], list[Any]] = cli.all_options
        self._all_options = all_options()
        try:
            self._base_cfg = Config.from_values(self._all_options, self._options)
        except KeyError as exc:
            raise ConfigError(f"unknown option in options: {exc.args[0]}") from None
        _check_types(self._base_cfg, self._options)
        from . import plugins
        get_hook: Callable[[], Any] = plugins.hook
        self._hook = get_hook()
        self._hook.cmpkit_configure(config=self._base_cfg)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def close(self) -> None:
        """Close the transport and release what the plugins held; the client is unusable after."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._transport is not None:
                self._transport.close()
        finally:
            self._hook.cmpkit_unconfigure(config=self._base_cfg)

    # ------------------------------------------------------------------ operations
    def enroll(self, key: KeyLike, subject: Optional[Union[str, x509.Name]] = None, *, command: str = "ir",
               sans: Sequence[Union[str, x509.GeneralName]] = (),
               extensions: Optional[Sequence[Union[x509.Extension[x509.ExtensionType], x509.ExtensionType]]] = None,
               implicit_confirm: bool = False) -> Enrollment:
        """Enroll ``key`` (``ir``, or ``cr`` with ``command="cr"``).

        :param key: the key to certify: a ``cryptography`` private key or a key handle
            (:class:`cmpkit.types.Signer`), which signs the proof of possession.
        :param subject: the requested subject (an RFC 4514 string such as ``"CN=a,O=b"`` or an
            ``x509.Name``); by default the client certificate's, as openssl does.
        :param sans: subject alternative names: ``x509.GeneralName`` objects, or strings (an IP
            address, a URI with ``://``, an e-mail address with ``@``, else a DNS name).
        :param extensions: further extensions to request (``x509.Extension`` or extension values).
        :param implicit_confirm: ask for implicit confirmation (no certConf).
        :raise CmpError: a subclass naming the cause; ServerError with the server's status.
        """
        if command not in ("ir", "cr"):
            raise ConfigError(f"enroll: command must be 'ir' or 'cr', not {command!r}")
        values: dict[str, Any] = {"cmd": command, "implicit_confirm": implicit_confirm}
        result = self._run(values, newkey=_signer(key, "key"), subject=subject, sans=sans,
                           extensions=list(extensions or ()))
        return self._enrollment(result)

    def update(self, key: KeyLike, new_key: KeyLike, *, cert: Optional[CertLike] = None) -> Enrollment:
        """Update a certificate with a new key (``kur``), protected with the certificate's key.

        :param key: the private key of the certificate to update (signs the request).
        :param new_key: the new key to certify.
        :param cert: the certificate to update; by default the client's ``cert``.
        """
        values: dict[str, Any] = {"cmd": "kur"}
        result = self._run(values, newkey=_signer(new_key, "new_key"), protect_key=_signer(key, "key"),
                           protect_cert=cert if cert is not None else self._cert)
        return self._enrollment(result)

    def revoke(self, cert: CertLike, reason: Optional[Union[int, x509.ReasonFlags]] = None) -> None:
        """Revoke ``cert`` (``rr``).

        :param reason: a CRLReason code (RFC 5280: 0 unspecified, 1 keyCompromise ...) or an
            ``x509.ReasonFlags``; None sends no reason.
        """
        code = -1
        if isinstance(reason, x509.ReasonFlags):
            code = _REASON_CODES[reason.name]
        elif reason is not None:
            code = int(reason)
        self._run({"cmd": "rr", "revreason": code}, oldcert=cert)

    def general_message(self, info_type: str) -> list[GeneralInfo]:
        """Send a general message (``genm``) asking for ``info_type``.

        :param info_type: an infoType name without ``id-it-`` (e.g. ``"caCerts"``) or a dotted OID.
        :return: the InfoTypeAndValues of the response, decoded where cmpkit knows the type.
        """
        from .app.settings import INFOTYPE_NAMES, INFOTYPES
        if info_type in INFOTYPES:
            oid = INFOTYPES[info_type]
        elif all(p.isdigit() for p in info_type.split(".")) and info_type.count(".") >= 1:
            oid = info_type
        else:
            raise ConfigError(f"unknown infoType '{info_type}' (a name such as caCerts or a dotted OID)")
        result = self._run({"cmd": "genm"}, infotypes=[(oid, None)])
        return [GeneralInfo(o, INFOTYPE_NAMES.get(o), _decode_info(INFOTYPE_NAMES.get(o), v))
                for o, v in result.itavs]

    # ------------------------------------------------------------------ the shared path
    def _run(self, values: dict[str, Any], *, newkey: Optional[Signer] = None,
             subject: Optional[Union[str, x509.Name]] = None, sans: Sequence[Union[str, x509.GeneralName]] = (),
             extensions: Sequence[Any] = (), protect_key: Optional[Signer] = None,
             protect_cert: Optional[CertLike] = None, oldcert: Optional[CertLike] = None,
             infotypes: Optional[list[tuple[str, Optional[bytes]]]] = None) -> "Result":
        if self._closed:
            raise ConfigError("the client is closed")
        try:
            settings, loader = self._settings(values, newkey, subject, sans, extensions, protect_key,
                                              protect_cert, oldcert, infotypes)
            return self._transact(settings, loader)
        except CmpError:
            raise
        except (ValueError, TypeError, OSError) as exc:
            raise TransactionError(f"{type(exc).__name__}: {exc}") from exc

    def _settings(self, values: dict[str, Any], newkey: Optional[Signer], subject: Any, sans: Sequence[Any],
                  extensions: Sequence[Any], protect_key: Optional[Signer], protect_cert: Optional[CertLike],
                  oldcert: Optional[CertLike], infotypes: Optional[list[tuple[str, Optional[bytes]]]]
                  ) -> tuple["ClientSettings", "Loader"]:
        from .app.settings import build_client_settings
        from .core.options import Config

        objects: dict[str, tuple[str, Any]] = {}

        def put(kind: str, value: Any) -> str:
            name = f"\x00cmpkit-api:{len(objects)}"
            if kind == "cert" and isinstance(value, x509.Certificate):
                from cryptography.hazmat.primitives.serialization import Encoding
                value = value.public_bytes(Encoding.DER)
            elif kind in ("cert", "key") and isinstance(value, (str, os.PathLike)):
                kind, value = "source", os.fspath(value)
            objects[name] = (kind, value)
            return name

        v: dict[str, Any] = dict(self._options)
        v.update(values)
        if self._secret is not None and protect_key is None:
            v["secret"] = put("secret", self._secret.encode() if isinstance(self._secret, str) else self._secret)
        if self._ref is not None:
            v["ref"] = self._ref if isinstance(self._ref, str) else self._ref.decode("latin-1")
        cert = protect_cert if protect_cert is not None else self._cert
        key = protect_key if protect_key is not None else self._key
        if cert is not None:
            v["cert"] = put("cert", cert)
        if key is not None:
            v["key"] = put("key", key if isinstance(key, (str, os.PathLike)) else _signer(key, "key"))
        if self._trusted:
            v["trusted"] = " ".join(put("cert", c) for c in self._trusted)
        if self._untrusted:
            v["untrusted"] = " ".join(put("cert", c) for c in self._untrusted)
        if self._srvcert is not None:
            v["srvcert"] = put("cert", self._srvcert)
        if oldcert is not None:
            v["oldcert"] = put("cert", oldcert)
        if newkey is not None:
            v["newkey"] = put("key", newkey)
            v["certout"] = _PLACEHOLDER_OUT
        subject_der = None if subject is None else _name_der(subject, "subject")
        if subject_der is not None:
            v["subject"] = "/"  # the NULL-DN for openssl's checks: the requested name is set below
        if self._timeout is not None:
            v["total_timeout"] = max(1, math.ceil(self._timeout))
        try:
            cfg = Config.from_values(self._all_options, v)
        except KeyError as exc:
            raise ConfigError(f"unknown option: {exc.args[0]}") from None
        loader = _ApiLoader.make(cfg)
        loader.objects = objects  # type: ignore[attr-defined]
        s = build_client_settings(cfg, loader)
        if isinstance(self._ref, bytes):
            s.ref = self._ref
        if self._recipient is not None:
            s.recipient = self._recipient
        if infotypes is not None:
            s.infotypes = infotypes
        if s.template is not None:
            _adjust_template(s, subject_der, sans, extensions)
        return s, loader

    def _open_transport(self, loader: "Loader") -> Transport:
        if self._transport is None:
            if self._given_transport is not None:
                from .types import as_transport
                self._transport = as_transport(self._given_transport)
            else:
                from .app.schemes import open_transport
                from .core.options import Config
                cfg = Config.from_values(self._all_options, dict(self._options, server=self.server))
                loader.cfg = loader.config = cfg
                self._transport = open_transport(self.server, cfg, loader, what="server")
        return self._transport

    def _transact(self, settings: "ClientSettings", loader: "Loader") -> "Result":
        from .app.transaction import Client as Transaction
        hook = self._hook
        last: list[Optional["PKIMessage"]] = [None]

        def received(msg: "PKIMessage", der: bytes) -> None:
            last[0] = msg
            hook.cmpkit_message_received(message=msg, der=der)

        transaction = Transaction(settings, None, lambda msg, der: hook.cmpkit_message_sent(message=msg, der=der),
                                  received)
        transaction.transport = self._open_transport(loader)
        try:
            return transaction.run()
        except TransactionError as exc:
            si = _status_of(last[0])
            if si is None or isinstance(exc, ServerError):
                raise
            fail_info = sum(1 << b for b in si.failure_bits) if si.failure_bits else None
            raise ServerError(str(exc), status=si.status, fail_info=fail_info,
                              status_text="; ".join(si.texts) if si.texts else None) from exc

    @staticmethod
    def _enrollment(result: "Result") -> Enrollment:
        if result.cert is None:
            raise TransactionError("the response carries no certificate")
        return Enrollment(x509.load_der_x509_certificate(result.cert), _certs(result.chain),
                          _certs(result.ca_pubs), _certs(result.extra_certs),
                          None if result.status is None else result.status.status)


def _check_types(cfg: Any, options: Mapping[str, Any]) -> None:
    """ConfigError for an ``options`` value of the wrong type for its option's kind."""
    expected: dict[str, Union[type, tuple[type, ...]]] = {"flag": bool, "int": int, "str": str, "choice": (str, int)}
    for name, value in options.items():
        kind = cfg.option(name).kind
        if value is not None and (not isinstance(value, expected[kind]) or (kind == "int" and isinstance(value, bool))):
            want = {"flag": "a bool", "int": "an int", "str": "a str", "choice": "a str"}[kind]
            raise ConfigError(f"options['{name}']: expected {want}, not {type(value).__name__}")


def _adjust_template(s: "ClientSettings", subject_der: Optional[bytes], sans: Sequence[Any],
                     extensions: Sequence[Any]) -> None:
    """The requested subject, SANs and extensions, which the API takes as objects."""
    tpl = s.template
    assert tpl is not None
    if subject_der is not None:
        tpl.subject = subject_der if subject_der != b"\x30\x00" else None
        if s.cert is None and s.old_cert is None:
            s.sender = subject_der
    exts = list(tpl.extensions or [])
    if sans:
        names = [_general_name(n) for n in sans]
        san = x509.Extension(x509.SubjectAlternativeName.oid, tpl.subject is None, x509.SubjectAlternativeName(names))
        exts = [san] + [e for e in exts if e.oid != san.oid]
    for e in extensions:
        if not isinstance(e, x509.Extension):
            e = x509.Extension(e.oid, False, e)
        exts = [x for x in exts if x.oid != e.oid] + [e]
    tpl.extensions = exts


def _decode_info(name: Optional[str], value: Optional[bytes]) -> Any:
    if value is None:
        return None
    try:
        if name == "caCerts":
            from .core import der
            return _certs(der.children(value))
        if name == "rootCaCert":
            return x509.load_der_x509_certificate(value)
        if name == "currentCRL":
            return x509.load_der_x509_crl(value)
    except (ValueError, CmpError):
        pass
    return value

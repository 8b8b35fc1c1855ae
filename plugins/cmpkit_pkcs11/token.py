"""Keys and certificates in PKCS#11 tokens (through PyKCS11): modules, sessions, objects, signing.

- Module: the URI's ``module-path`` (a library, or a directory searched for ``module-name``),
  else ``module-name`` looked up in p11-kit's module files and the usual library directories,
  else the environment variable ``PKCS11_MODULE`` (a library path), else ``PKCS11_MODULE_PATH``
  (libp11's, which openssl's pkcs11 engine reads), else p11-kit's proxy
  module (which offers every module p11-kit is configured with).
- Tokens are matched on every token, slot and library attribute the URI gives; exactly one
  token must match. ONE session is opened per (module, token) and run, logged in at most once,
  and closed (with the modules finalised) by :func:`close_all`, which the plugin's
  ``cmpkit_unconfigure`` calls when the run ends (a library user calls it when done).
- :class:`TokenKey` is a :class:`cmpkit.core.keys.Signer` whose private key stays in the
  token: RSA PKCS#1 v1.5 and RSASSA-PSS (``CKM_<hash>_RSA_PKCS[_PSS]`` when the token offers
  it, else ``CKM_RSA_PKCS[_PSS]`` over a digest computed with cryptography), ECDSA
  (``CKM_ECDSA`` over a digest, the raw r||s converted to DER) and EdDSA (``CKM_EDDSA``).

Every failure is a one-line CredentialError naming the token and object, never the PIN.
"""
from __future__ import annotations

import os
import sysconfig
import threading
from typing import Callable, Optional

from cmpkit.errors import CredentialError

from .uri import Pkcs11Uri

MODULE_ENV = "PKCS11_MODULE"
ENGINE_MODULE_ENV = "PKCS11_MODULE_PATH"  # libp11's (openssl's pkcs11 engine)

_MULTIARCH = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
MODULE_DIRS = (f"/usr/lib/{_MULTIARCH}/pkcs11", f"/usr/lib/{_MULTIARCH}/softhsm", "/usr/lib/softhsm",
               "/usr/lib/pkcs11", "/usr/lib64/pkcs11", "/usr/local/lib/pkcs11", "/usr/local/lib/softhsm",
               f"/usr/lib/{_MULTIARCH}", "/usr/lib64", "/usr/lib", "/usr/local/lib")
P11KIT_MODULE_FILES = ("/etc/pkcs11/modules", "/usr/share/p11-kit/modules")
PROXY_MODULES = (f"/usr/lib/{_MULTIARCH}/p11-kit-proxy.so", "/usr/lib64/p11-kit-proxy.so",
                 "/usr/lib/p11-kit-proxy.so")

PinSource = Callable[[str], Optional[bytes]]  # token label -> PIN (None: none available)

_lock = threading.RLock()
_modules: dict = {}   # module path -> PyKCS11Lib
_sessions: dict = {}  # (module path, slot id) -> TokenSession


def pykcs11():
    """The PyKCS11 package, imported on first use."""
    try:
        import PyKCS11
    except ImportError:
        raise CredentialError("PKCS#11 support needs the PyKCS11 package "
                              "(pip install 'cmpkit[pkcs11]')") from None
    return PyKCS11


def ckr_name(exc) -> str:
    """The CKR_... name of a PyKCS11Error (no other detail: it could carry data)."""
    value = getattr(exc, "value", None)
    name = pykcs11().CKR.get(value) if isinstance(value, int) else None
    if isinstance(name, str):
        return name if value >= 0 else f"{name}: {getattr(exc, 'text', '')}"
    return f"PKCS#11 error 0x{value:08X}" if isinstance(value, int) else type(exc).__name__


def _clean(text) -> str:
    """A fixed-width PKCS#11 info string without its padding."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    return str(text).rstrip(" \0")


# ---------------------------------------------------------------- modules

def _from_p11kit_file(name: str) -> Optional[str]:
    for directory in P11KIT_MODULE_FILES:
        path = os.path.join(directory, f"{name}.module")
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for line in lines:
            key, sep, value = line.partition(":")
            if sep and key.strip() == "module":
                value = value.strip()
                if os.path.isabs(value):
                    return value if os.path.isfile(value) else None
                return _search(value, MODULE_DIRS)
    return None


def _search(name: str, directories) -> Optional[str]:
    candidates = [name] if name.endswith(".so") or ".so." in name else \
        [f"{name}.so", f"lib{name}.so", f"{name}-pkcs11.so", name]
    for directory in directories:
        for candidate in candidates:
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None


def find_module(uri: Pkcs11Uri) -> str:
    """The real path of the PKCS#11 module library for ``uri`` (see the module docstring)."""
    return os.path.realpath(_module_path(uri))


def _module_path(uri: Pkcs11Uri) -> str:
    if uri.module_path:
        path = uri.module_path
        if os.path.isdir(path):
            if not uri.module_name:
                raise CredentialError(f"PKCS#11 module-path '{path}' is a directory and the URI has no "
                                      f"module-name")
            found = _search(uri.module_name, [path])
            if not found:
                raise CredentialError(f"PKCS#11 module '{uri.module_name}' not found in '{path}'")
            return found
        if not os.path.isfile(path):
            raise CredentialError(f"PKCS#11 module '{path}' not found")
        return path
    if uri.module_name:
        name = uri.module_name
        if "/" in name:
            raise CredentialError(f"PKCS#11 module-name '{name}' must not contain '/' (use module-path)")
        found = _from_p11kit_file(name) or _search(name, MODULE_DIRS)
        if not found:
            raise CredentialError(f"PKCS#11 module '{name}' not found (searched p11-kit's module "
                                  f"files and {', '.join(MODULE_DIRS[:3])}, ...; use module-path)")
        return found
    for name in (MODULE_ENV, ENGINE_MODULE_ENV):
        env = os.environ.get(name)
        if env:
            if not os.path.isfile(env):
                raise CredentialError(f"PKCS#11 module '{env}' (from ${name}) not found")
            return env
    for path in PROXY_MODULES:
        if os.path.isfile(path):
            return path
    raise CredentialError(f"no PKCS#11 module: give module-path or module-name in the URI, or set "
                          f"${MODULE_ENV} (p11-kit's proxy module is not installed)")


def _load_module(path: str):
    with _lock:
        lib = _modules.get(path)
        if lib is None:
            p11 = pykcs11()
            lib = p11.PyKCS11Lib()
            try:
                lib.load(path)
            except p11.PyKCS11Error as exc:
                reason = "not a loadable library" if exc.value < 0 else ckr_name(exc)
                raise CredentialError(f"cannot load PKCS#11 module '{path}': {reason}") from None
            _modules[path] = lib
        return lib


# ---------------------------------------------------------------- tokens and sessions

class TokenSession:
    """The one session this run holds with one token, and whether it is logged in."""

    def __init__(self, module: str, lib, slot: int, info):
        self.module = module
        self.lib = lib
        self.slot = slot
        self.label = _clean(info.label)
        self.flags = info.flags
        self.lock = threading.RLock()
        self.logged_in = False
        self.session = lib.openSession(slot)
        self._mechanisms = None

    @property
    def name(self) -> str:
        return f"'{self.label}'"

    def mechanisms(self) -> set:
        """The mechanism numbers the token offers (asked once)."""
        if self._mechanisms is None:
            p11 = pykcs11()
            try:
                names = self.lib.getMechanismList(self.slot)
            except p11.PyKCS11Error:
                names = []
            self._mechanisms = {p11.CKM[n] for n in names if isinstance(p11.CKM.get(n), int)}
        return self._mechanisms

    def login(self, get_pin: PinSource, required: bool = True) -> bool:
        """Log the user in, once per run; True if this call logged in.

        Without a PIN (and no PIN pad): CredentialError, or False when not ``required`` (a
        search for objects that may be private, such as certificates).
        """
        p11 = pykcs11()
        with self.lock:
            if self.logged_in or not (self.flags & p11.CKF_LOGIN_REQUIRED):
                return False
            pin = get_pin(self.label)
            if pin is None and not (self.flags & p11.CKF_PROTECTED_AUTHENTICATION_PATH):
                if not required:
                    return False
                raise CredentialError(f"no PIN for PKCS#11 token {self.name} (give pin-value or pin-source "
                                      f"in the URI, or the matching pass phrase option)")
            try:
                self.session.login(pin)
            except p11.PyKCS11Error as exc:
                if exc.value != p11.CKR_USER_ALREADY_LOGGED_IN:
                    raise CredentialError(f"PKCS#11 login to token {self.name} failed: {ckr_name(exc)}") from None
            self.logged_in = True
            return True

    def find(self, cls: int, uri: Pkcs11Uri, label: Optional[str] = None, id_: Optional[bytes] = None) -> list:
        """Handles of the objects of class ``cls`` matching the URI's object and id."""
        p11 = pykcs11()
        template = [(p11.CKA_CLASS, cls)]
        label = uri.object if label is None else label
        id_ = uri.id if id_ is None else id_
        if label is not None:
            template.append((p11.CKA_LABEL, label))
        if id_ is not None:
            template.append((p11.CKA_ID, id_))
        with self.lock:
            try:
                return self.session.findObjects(template)
            except p11.PyKCS11Error as exc:
                raise CredentialError(f"searching PKCS#11 token {self.name} failed: {ckr_name(exc)}") from None

    def attributes(self, handle, names: list, binary: bool = True) -> list:
        """Attribute values: bytes (``binary``) or PyKCS11's typed values; None when unavailable."""
        p11 = pykcs11()
        with self.lock:
            try:
                values = self.session.getAttributeValue(handle, names, allAsBinary=binary)
            except p11.PyKCS11Error as exc:
                raise CredentialError(f"reading an object of PKCS#11 token {self.name} failed: "
                                      f"{ckr_name(exc)}") from None
        if not binary:
            return list(values)
        return [bytes(v) if v is not None else None for v in values]

    def close(self) -> None:
        p11 = pykcs11()
        with self.lock:
            try:
                if self.logged_in:
                    self.session.logout()
            except p11.PyKCS11Error:
                pass
            try:
                self.session.closeSession()
            except p11.PyKCS11Error:
                pass
            self.logged_in = False


def _matches(uri: Pkcs11Uri, lib_info, slot: int, slot_info, token_info) -> bool:
    checks = [
        (uri.library_manufacturer, lambda: _clean(lib_info.manufacturerID)),
        (uri.library_description, lambda: _clean(lib_info.libraryDescription)),
        (uri.library_version, lambda: tuple(lib_info.libraryVersion)),
        (uri.slot_id, lambda: slot),
        (uri.slot_manufacturer, lambda: _clean(slot_info.manufacturerID)),
        (uri.slot_description, lambda: _clean(slot_info.slotDescription)),
        (uri.token, lambda: _clean(token_info.label)),
        (uri.manufacturer, lambda: _clean(token_info.manufacturerID)),
        (uri.serial, lambda: _clean(token_info.serialNumber)),
        (uri.model, lambda: _clean(token_info.model)),
    ]
    return all(want is None or want == have() for want, have in checks)


def open_token(uri: Pkcs11Uri) -> TokenSession:
    """The session with the one token matching ``uri`` (opened on first use, then reused)."""
    p11 = pykcs11()
    module = find_module(uri)
    lib = _load_module(module)
    with _lock:
        try:
            lib_info = lib.getInfo()
            slots = lib.getSlotList(tokenPresent=True)
            found = []
            for slot in slots:
                token_info = lib.getTokenInfo(slot)
                if not token_info.flags & p11.CKF_TOKEN_INITIALIZED:
                    continue
                if _matches(uri, lib_info, slot, lib.getSlotInfo(slot), token_info):
                    found.append((slot, token_info))
        except p11.PyKCS11Error as exc:
            raise CredentialError(f"listing the tokens of PKCS#11 module '{module}' failed: "
                                  f"{ckr_name(exc)}") from None
        if not found:
            raise CredentialError(f"no PKCS#11 token matching '{uri.redacted()}' in module '{module}'")
        if len(found) > 1:
            labels = ", ".join(f"'{_clean(info.label)}'" for _, info in found)
            raise CredentialError(f"{len(found)} PKCS#11 tokens match '{uri.redacted()}' ({labels}); "
                                  f"add token= or serial= to the URI")
        slot, token_info = found[0]
        key = (module, slot)
        session = _sessions.get(key)
        if session is None:
            try:
                session = TokenSession(module, lib, slot, token_info)
            except p11.PyKCS11Error as exc:
                raise CredentialError(f"cannot open a session with PKCS#11 token '{_clean(token_info.label)}': "
                                      f"{ckr_name(exc)}") from None
            _sessions[key] = session
        return session


def close_all() -> None:
    """Log out, close every session and finalise every module (when the run ends; tests call it too).
    Best effort: PKCS#11 errors are ignored."""
    with _lock:
        sessions = list(_sessions.values())
        _sessions.clear()
        modules = list(_modules.values())
        _modules.clear()
    for session in sessions:
        session.close()
    for lib in modules:
        try:
            lib.unload()
        except Exception:  # noqa: BLE001 - best effort when the run ends
            pass


# ---------------------------------------------------------------- public keys and certificates

def _ec_public_key(params: bytes, point: bytes):
    """A cryptography EC public key from CKA_EC_PARAMS and CKA_EC_POINT (DER OCTET STRING or raw)."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    from cmpkit.core.algs import encode_algorithm_identifier
    from cmpkit.core.der import content, tlv

    # PKCS#11 says DER OCTET STRING; some tokens give the raw point (which may look like DER too).
    candidates = [point]
    try:
        candidates.insert(0, content(point))
    except Exception:  # noqa: BLE001 - not DER: a raw point
        pass
    alg = encode_algorithm_identifier("1.2.840.10045.2.1", params)
    for candidate in candidates:
        try:  # SubjectPublicKeyInfo { id-ecPublicKey + params, BIT STRING point }
            return load_der_public_key(tlv(0x30, alg + tlv(0x03, b"\x00" + candidate)))
        except ValueError:
            continue
    raise ValueError("bad EC point")


def _edwards_public_key(params: bytes, point: bytes):
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    from cmpkit.core.der import content

    if len(point) not in (32, 57):
        point = content(point)
    if len(point) == 32:
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    return ed448.Ed448PublicKey.from_public_bytes(point)


def public_key_of(token: TokenSession, handle, what: str):
    """The cryptography public key of a public key, private key or certificate object."""
    p11 = pykcs11()
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    (cls,) = token.attributes(handle, [p11.CKA_CLASS], binary=False)
    try:
        if cls == p11.CKO_CERTIFICATE:
            (value,) = token.attributes(handle, [p11.CKA_VALUE])
            return x509.load_der_x509_certificate(value).public_key()
        (ktype,) = token.attributes(handle, [p11.CKA_KEY_TYPE], binary=False)
        if ktype == p11.CKK_RSA:
            n, e = token.attributes(handle, [p11.CKA_MODULUS, p11.CKA_PUBLIC_EXPONENT])
            if n and e:
                return rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
        elif ktype in (p11.CKK_EC, p11.CKK_EC_EDWARDS):
            params, point = token.attributes(handle, [p11.CKA_EC_PARAMS, p11.CKA_EC_POINT])
            if params and point:
                if ktype == p11.CKK_EC:
                    return _ec_public_key(params, point)
                return _edwards_public_key(params, point)
        else:
            raise CredentialError(f"{what}: unsupported key type {p11.CKK.get(ktype, ktype)} in PKCS#11 token "
                                  f"{token.name}")
    except CredentialError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed attribute values
        raise CredentialError(f"{what}: cannot decode the public key in PKCS#11 token {token.name}: "
                              f"{type(exc).__name__}") from None
    return None


# ---------------------------------------------------------------- signing

def _hash_tables():
    """digest name -> (CKM hash, CKG MGF1, CKM hash-and-sign PKCS#1, CKM hash-and-sign PSS)."""
    p11 = pykcs11()
    out = {}
    for name, tag in (("sha1", "SHA1"), ("sha224", "SHA224"), ("sha256", "SHA256"), ("sha384", "SHA384"),
                      ("sha512", "SHA512"), ("sha3-224", "SHA3_224"), ("sha3-256", "SHA3_256"),
                      ("sha3-384", "SHA3_384"), ("sha3-512", "SHA3_512")):
        hash_mech = getattr(p11, f"CKM_{tag}" if tag != "SHA1" else "CKM_SHA_1", None)
        out[name] = (hash_mech, getattr(p11, f"CKG_MGF1_{tag}", None),
                     getattr(p11, f"CKM_{tag}_RSA_PKCS", None), getattr(p11, f"CKM_{tag}_RSA_PKCS_PSS", None))
    return out


class TokenKey:
    """A Signer whose private key stays in a PKCS#11 token (see the module docstring)."""

    def __init__(self, token: TokenSession, handle, key_type: int, public_key, label: str):
        self._token = token
        self._handle = handle
        self._key_type = key_type
        self._public = public_key
        self.label = label

    def public_key(self):
        return self._public

    def __repr__(self) -> str:
        return f"TokenKey(token={self._token.label!r}, object={self.label!r})"

    def _c_sign(self, data: bytes, mechanism) -> bytes:
        p11 = pykcs11()
        with self._token.lock:
            try:
                return bytes(self._token.session.sign(self._handle, data, mechanism))
            except p11.PyKCS11Error as exc:
                raise CredentialError(f"signing with key '{self.label}' in PKCS#11 token {self._token.name} "
                                      f"failed: {ckr_name(exc)}") from None

    def sign(self, data: bytes, digest: Optional[str], pss: bool = False) -> bytes:
        p11 = pykcs11()
        from cryptography.hazmat.primitives import hashes

        from cmpkit.core.algs import digest_name

        if self._key_type == p11.CKK_EC_EDWARDS:
            return self._c_sign(data, p11.Mechanism(p11.CKM_EDDSA, None))
        name = digest_name(digest or "sha256")
        from cmpkit.core.keys import hash_algorithm
        h = hash_algorithm(name)
        hasher = hashes.Hash(h)
        hasher.update(data)

        if self._key_type == p11.CKK_EC:
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
            raw = self._c_sign(hasher.finalize(), p11.Mechanism(p11.CKM_ECDSA, None))
            half = len(raw) // 2
            return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

        if self._key_type != p11.CKK_RSA:
            raise CredentialError(f"unsupported key type of key '{self.label}' in PKCS#11 token {self._token.name}")
        hash_mech, mgf, pkcs_mech, pss_mech = _hash_tables().get(name, (None, None, None, None))
        offered = self._token.mechanisms()
        if pss:
            if hash_mech is None or mgf is None:
                raise CredentialError(f"RSA-PSS with {name} is not supported for PKCS#11 keys")
            if pss_mech in offered:
                return self._c_sign(data, p11.RSA_PSS_Mechanism(pss_mech, hash_mech, mgf, h.digest_size))
            return self._c_sign(hasher.finalize(),
                                p11.RSA_PSS_Mechanism(p11.CKM_RSA_PKCS_PSS, hash_mech, mgf, h.digest_size))
        if pkcs_mech is not None and pkcs_mech in offered:
            return self._c_sign(data, p11.Mechanism(pkcs_mech, None))
        return self._c_sign(digest_info(name, hasher.finalize()), p11.Mechanism(p11.CKM_RSA_PKCS, None))


def digest_info(name: str, digest: bytes) -> bytes:
    """PKCS#1 DigestInfo { AlgorithmIdentifier(hash, NULL), OCTET STRING digest } for CKM_RSA_PKCS."""
    from cmpkit.core.algs import HASH_OIDS, NULL_DER, encode_algorithm_identifier
    from cmpkit.core.der import tlv

    return tlv(0x30, encode_algorithm_identifier(HASH_OIDS[name], NULL_DER) + tlv(0x04, digest))


# ---------------------------------------------------------------- loaders

def _check_type(uri: Pkcs11Uri, allowed: tuple, what: str) -> None:
    if uri.type is not None and uri.type not in allowed:
        raise CredentialError(f"cannot load {what}: the PKCS#11 URI names objects of type '{uri.type}'")


def _one(found: list, uri: Pkcs11Uri, kind: str, token: TokenSession, what: str):
    if not found:
        raise CredentialError(f"cannot load {what}: no {kind} matching '{uri.redacted()}' in PKCS#11 token "
                              f"{token.name}")
    if len(found) > 1:
        raise CredentialError(f"cannot load {what}: {len(found)} {kind}s match '{uri.redacted()}' in PKCS#11 "
                              f"token {token.name}; add object= or id= to the URI")
    return found[0]


def _companion_public_key(token: TokenSession, handle, what: str):
    """The public key belonging to a private key: from the public key object or certificate with the
    same CKA_ID (or label), else from the private key's own public attributes."""
    p11 = pykcs11()
    id_, label = token.attributes(handle, [p11.CKA_ID, p11.CKA_LABEL])
    for cls in (p11.CKO_PUBLIC_KEY, p11.CKO_CERTIFICATE):
        if id_:
            found = token.find(cls, Pkcs11Uri(id=id_))
        elif label:
            found = token.find(cls, Pkcs11Uri(object=label.decode("utf-8", "replace")))
        else:
            found = []
        for other in found:
            public = public_key_of(token, other, what)
            if public is not None:
                return public
    return public_key_of(token, handle, what)


# PKCS#11 3.2 key types CKK_ML_DSA and CKK_SLH_DSA: cmpkit does not sign with them in tokens
_PQ_KEY_TYPES = {0x4A: "ML-DSA", 0x4B: "SLH-DSA"}


def load_private_key(uri: Pkcs11Uri, get_pin: PinSource, what: str) -> TokenKey:
    """A TokenKey for the one private key ``uri`` names (logging in to its token)."""
    p11 = pykcs11()
    _check_type(uri, ("private",), what)
    token = open_token(uri)
    token.login(get_pin)
    handle = _one(token.find(p11.CKO_PRIVATE_KEY, uri), uri, "private key", token, what)
    (key_type,) = token.attributes(handle, [p11.CKA_KEY_TYPE], binary=False)
    (label_raw,) = token.attributes(handle, [p11.CKA_LABEL])
    label = (label_raw or b"").decode("utf-8", "replace")
    if key_type in _PQ_KEY_TYPES:
        raise CredentialError(f"cannot load {what}: {_PQ_KEY_TYPES[key_type]} keys in PKCS#11 tokens are not "
                              f"supported (PKCS#11 3.2 mechanisms; SoftHSM2 2.6 has none): key '{label}' "
                              f"in PKCS#11 token {token.name}")
    if key_type not in (p11.CKK_RSA, p11.CKK_EC, p11.CKK_EC_EDWARDS):
        raise CredentialError(f"cannot load {what}: unsupported key type {p11.CKK.get(key_type, key_type)} of key '{label}' "
                              f"in PKCS#11 token {token.name}")
    public = _companion_public_key(token, handle, what)
    if public is None:
        raise CredentialError(f"cannot load {what}: no public key or certificate for key '{label}' in "
                              f"PKCS#11 token {token.name}")
    return TokenKey(token, handle, key_type, public, label)


def load_public_key(uri: Pkcs11Uri, get_pin: PinSource, what: str):
    """The cryptography public key ``uri`` names: a public key, certificate or private key object."""
    p11 = pykcs11()
    _check_type(uri, ("public", "cert", "private"), what)
    token = open_token(uri)
    classes = {"public": [p11.CKO_PUBLIC_KEY], "cert": [p11.CKO_CERTIFICATE],
               "private": [p11.CKO_PRIVATE_KEY]}.get(uri.type, [p11.CKO_PUBLIC_KEY, p11.CKO_CERTIFICATE,
                                                                 p11.CKO_PRIVATE_KEY])
    for attempt in range(2):
        for cls in classes:
            found = token.find(cls, uri)
            if found:
                public = public_key_of(token, _one(found, uri, "public key", token, what), what)
                if public is not None:
                    return public
        if attempt or not token.login(get_pin, required=False):  # after a login, private objects are visible
            break
    raise CredentialError(f"cannot load {what}: no public key matching '{uri.redacted()}' in PKCS#11 token "
                          f"{token.name}")


def load_certs(uri: Pkcs11Uri, get_pin: PinSource, what: str) -> list:
    """The DER certificates ``uri`` names (logging in only if none is visible without)."""
    p11 = pykcs11()
    _check_type(uri, ("cert",), what)
    token = open_token(uri)
    found = token.find(p11.CKO_CERTIFICATE, uri)
    if not found and token.login(get_pin, required=False):
        found = token.find(p11.CKO_CERTIFICATE, uri)
    if not found:
        raise CredentialError(f"cannot load {what}: no certificate matching '{uri.redacted()}' in PKCS#11 "
                              f"token {token.name}")
    return [token.attributes(handle, [p11.CKA_VALUE])[0] for handle in found]

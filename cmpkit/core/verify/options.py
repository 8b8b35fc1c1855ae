"""The verification options of openssl-verification-options(1): VerifyOptions, purposes, flags."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from ...errors import ConfigError

ANY_POLICY = "2.5.29.32.0"
#: ``purpose`` value a caller passes for the -out_trusted check of a newly enrolled certificate;
#: only then do -verify_hostname, -verify_ip and -verify_email apply (openssl-cmp(1)).
ENROLLED = "enrolled"

PURPOSES = ("sslclient", "sslserver", "nssslserver", "smimesign", "smimeencrypt", "crlsign",
            "any", "ocsphelper", "timestampsign")
#: -verify_name tables of OpenSSL 3.0 (only their purpose matters for verification).
VERIFY_NAMES = {"default": None, "pkcs7": "smimesign", "smime_sign": "smimesign",
                "ssl_client": "sslclient", "ssl_server": "sslserver"}
_FLAGS = ("allow_proxy_certs", "no_check_time", "check_ss_sig", "crl_check", "crl_check_all",
          "explicit_policy", "extended_crl", "ignore_critical", "inhibit_any", "inhibit_map",
          "partial_chain", "policy_check", "policy_print", "suiteB_128_only", "suiteB_128",
          "suiteB_192", "trusted_first", "no_alt_chains", "use_deltas", "x509_strict",
          "issuer_checks")


@dataclass(frozen=True)
class VerifyOptions:
    """Every certificate verification option of ``openssl cmp`` (openssl-verification-options(1)).

    ``trusted_first`` (always on since OpenSSL 1.1.0), ``no_alt_chains`` and ``issuer_checks``
    are accepted and have no effect, as documented for OpenSSL 3.0. ``crls`` holds DER CRLs
    (cmpkit's ``-crls``) used by ``crl_check``/``crl_check_all``.
    """

    allow_proxy_certs: bool = False
    attime: Optional[int] = None
    no_check_time: bool = False
    check_ss_sig: bool = False
    crl_check: bool = False
    crl_check_all: bool = False
    explicit_policy: bool = False
    extended_crl: bool = False
    ignore_critical: bool = False
    inhibit_any: bool = False
    inhibit_map: bool = False
    partial_chain: bool = False
    policy: tuple = ()
    policy_check: bool = False
    policy_print: bool = False
    purpose: Optional[str] = None
    suiteB_128_only: bool = False
    suiteB_128: bool = False
    suiteB_192: bool = False
    trusted_first: bool = False
    no_alt_chains: bool = False
    use_deltas: bool = False
    auth_level: Optional[int] = None
    verify_depth: Optional[int] = None
    verify_email: Optional[str] = None
    verify_hostname: Optional[str] = None
    verify_ip: Optional[str] = None
    verify_name: Optional[str] = None
    x509_strict: bool = False
    issuer_checks: bool = False
    crls: tuple = field(default=(), repr=False)

    def __post_init__(self):
        if self.purpose is not None and self.purpose not in PURPOSES:
            raise ConfigError(f"unknown -purpose '{self.purpose}' (known: {', '.join(PURPOSES)})")
        if self.verify_name is not None and self.verify_name not in VERIFY_NAMES:
            raise ConfigError(f"invalid -verify_name '{self.verify_name}' "
                              f"(known: {', '.join(VERIFY_NAMES)})")
        policies = tuple(_policy_oid(p) for p in _as_list(self.policy))
        object.__setattr__(self, "policy", policies)
        object.__setattr__(self, "crls", tuple(self.crls))
        if self.verify_ip is not None:
            import ipaddress  # issue 17: only for -verify_ip
            try:
                ipaddress.ip_address(self.verify_ip)
            except ValueError:
                raise ConfigError(f"invalid -verify_ip '{self.verify_ip}': not an IP address") from None

    @property
    def effective_purpose(self) -> Optional[str]:
        """-purpose, else the purpose implied by -verify_name."""
        return self.purpose or VERIFY_NAMES.get(self.verify_name or "default")

    @property
    def policy_checking(self) -> bool:
        """OpenSSL sets X509_V_FLAG_POLICY_CHECK with any of the policy flags."""
        return self.policy_check or self.explicit_policy or self.inhibit_any or self.inhibit_map

    def without_status_checks(self) -> "VerifyOptions":
        """The options OpenSSL keeps when validating a newly enrolled certificate (certConf
        callback): time, partial-chain and policy-check flags; all other flags are cleared."""
        keep = {"no_check_time", "partial_chain", "policy_check"}
        cleared = {f: False for f in _FLAGS if f not in keep}
        return dataclasses.replace(self, **cleared, policy_check=self.policy_checking)

    @classmethod
    def from_config(cls, cfg, crls: Iterable[bytes] = ()) -> "VerifyOptions":
        """Options from a cmpkit Config (``get(name)``; names without the leading dash).

        :param crls: the DER CRLs of ``-crls``, loaded by the caller (the shell reads files:
            :func:`cmpkit.app.crl_files.crls_from_config`).
        """
        kw = {}
        for name in _FLAGS:
            kw[name] = bool(cfg.get(name))
        for name in ("attime", "auth_level", "verify_depth"):
            value = cfg.get(name)
            if value is not None:
                try:
                    kw[name] = int(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"invalid -{name} '{value}': not an integer") from None
        for name in ("purpose", "verify_email", "verify_hostname", "verify_ip", "verify_name"):
            value = cfg.get(name)
            if value is not None:
                kw[name] = str(value)
        kw["policy"] = tuple(config_list(cfg, "policy"))
        kw["crls"] = tuple(crls)
        return cls(**kw)


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[,\s]+", value) if v]
    return [v for item in value for v in _as_list(item)]


def config_list(cfg, name: str) -> list:
    """The values of option ``name`` split on commas and/or whitespace ([] when unset)."""
    getter = getattr(cfg, "get_list", None)
    if getter is not None:
        return _as_list(getter(name))
    return _as_list(cfg.get(name))


def _policy_oid(text: str) -> str:
    if text in ("anyPolicy", "X509v3 Any Policy"):
        return ANY_POLICY
    if not re.fullmatch(r"[0-2](\.\d+)+", text):
        raise ConfigError(f"invalid -policy '{text}': not an object identifier")
    return text

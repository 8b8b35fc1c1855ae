"""The cmpkit exception tree: every failure a user can cause is a CmpError with a one-line message."""


class CmpError(Exception):
    """Base of all cmpkit errors; str(exc) is one line naming the cause."""


class ConfigError(CmpError):
    """A bad option value, an unknown option, or a problem in a config file."""


class CredentialError(CmpError):
    """A key, certificate or pass phrase could not be loaded or does not fit."""


class DecodeError(CmpError):
    """Bytes that are not a well-formed CMP (or CRMF/PKCS#10) structure."""


class ProtectionError(CmpError):
    """Message protection (MAC or signature) missing, unsupported or invalid."""


class VerifyError(CmpError):
    """A certificate chain or certificate check failed."""


class TransferError(CmpError):
    """Sending or receiving a message failed (network, HTTP, timeouts, files)."""


class TransactionError(CmpError):
    """The CMP exchange failed: protocol violation, error message or negative answer."""


class PluginError(CmpError):
    """A plugin could not be loaded or misbehaved."""

"""The cmpkit exception tree: every failure a user can cause is a CmpError with a one-line message."""


class CmpError(Exception):
    """Base of all cmpkit errors; str(exc) is one line naming the cause.

    When the server sent a PKIStatusInfo (an error message, a rejection), the error carries it:

    :ivar status: the PKIStatus (0 accepted ... 6 keyUpdateWarning; 2 rejection), else None.
    :ivar fail_info: the PKIFailureInfo bits as an int (bit 0 = badAlg, ...), else None.
    :ivar status_text: the PKIFreeText strings joined with "; ", else None.
    """

    status: "int | None" = None
    fail_info: "int | None" = None
    status_text: "str | None" = None

    def __init__(self, *args: object, status: "int | None" = None, fail_info: "int | None" = None,
                 status_text: "str | None" = None) -> None:
        super().__init__(*args)
        if status is not None:
            self.status = status
        if fail_info is not None:
            self.fail_info = fail_info
        if status_text is not None:
            self.status_text = status_text


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


class ServerError(TransactionError):
    """The server answered with an error message or a negative PKIStatus (rejection, waiting without
    polling): :attr:`CmpError.status`, :attr:`CmpError.fail_info` and :attr:`CmpError.status_text`
    say what it sent."""

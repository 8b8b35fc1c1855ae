#!/usr/bin/env python3
"""The start-up floor of a run: what the interpreter and the modules a cmpkit run imports cost, without cmpkit's code.

`python floor_modules.py record OUT ARGS...` runs `cmpkit ARGS...` in this process (as the `cmpkit`
command does) and writes the names of the modules it imported to OUT; `python floor_modules.py
import FILE` imports those of them that are not cmpkit's own (cmpkit and its bundled plugins) and
does nothing else; `python floor_modules.py required` imports only what any run must: pluggy
(the hooks), cryptography's EC keys with an ECDSA signature object (keys, POPO), logging (the
CLI's output) and hashlib/hmac (PBM), with `x509` also cryptography.x509 (the certificate path
validation of signature-protected runs); `python floor_modules.py interpreter` does nothing (the
interpreter's own start-up). bench/oneshot.py times the three beside cmpkit and openssl:
the part of a one-shot run that no change to cmpkit's own code can remove.
"""
import importlib
import sys

OWN = ("cmpkit", "cmpkit_")


def record(out, args):
    sys.argv = ["cmpkit", *args]
    from cmpkit.cli import main
    try:
        code = main()
    finally:
        with open(out, "w") as fh:
            fh.write("\n".join(m for m in sys.modules if not m.startswith("__")))
    sys.exit(code)


def import_floor(path):
    with open(path) as fh:
        names = fh.read().split()
    for name in names:
        if name == "cmpkit" or name.startswith(OWN) or name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:  # a module only its package's import can set up (e.g. a C extension's alias)
            pass


def import_required(x509=False):
    import hashlib  # noqa: F401
    import hmac  # noqa: F401
    import logging  # noqa: F401

    import pluggy  # noqa: F401
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    ec.ECDSA(hashes.SHA256())  # its first use imports cryptography's OpenSSL backend module
    if x509:  # a signature-protected run validates certificate paths
        import cryptography.x509  # noqa: F401


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "interpreter":
        pass  # the interpreter's own start-up (site included), as `python -c pass`
    elif sys.argv[1] == "required":
        import_required(sys.argv[2:] == ["x509"])
    else:
        import_floor(sys.argv[2])

"""Run one command line with `openssl cmp` and with `cmpkit` and compare what they did: exit
status, the files written and the requests sent (-reqout), decoded with the random parts masked
(transactionID, nonces, messageTime, PBM salt, signatures and POPO signatures)."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

from cmpkit.core import bodies, der
from cmpkit.core.message import PKIMessage

from .tools import CMPKIT, run


@dataclass
class Outcome:
    returncode: int
    files: dict                      # output name -> bytes (absent: not written)
    requests: list                   # summaries of the requests sent, in order
    stderr: str = ""
    stdout: str = ""
    raw_requests: list = field(default_factory=list)


def request_summary(data: bytes) -> dict:
    """What a request says, without what changes from run to run."""
    msg = PKIMessage.from_der(data)
    out = {"body": msg.body_type, "pvno": msg.pvno, "sender": msg.sender, "recipient": msg.recipient,
           "senderKID": msg.sender_kid, "generalInfo": msg.general_info,
           "protectionAlg": der.read_oid(der.children(msg.protection_alg)[0]) if msg.protection_alg else None,
           "extraCerts": msg.extra_certs}
    content = msg.body_content
    if msg.body_type in ("ir", "cr", "kur"):
        out["content"] = [(r.cert_request_der, r.popo, r.popo_alg, r.popo_has_input)
                          for r in bodies.read_cert_requests(content)]
    elif msg.body_type == "certConf":
        out["content"] = [(h, i, (si.status, si.texts, si.failure_bits) if si else None, alg)
                          for h, i, si, alg in bodies.read_cert_conf(content)]
    else:
        out["content"] = content
    return out


def run_tool(tool: str, openssl: str, args: list, workdir: pathlib.Path, outputs=(), reqout: int = 0) -> Outcome:
    """``args`` relative to ``workdir`` (created); ``outputs`` are the file names the options write."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv0 = [openssl, "cmp"] if tool == "openssl" else CMPKIT
    reqs = [f"req{i}.der" for i in range(1, reqout + 1)]
    argv = argv0 + ["-config", ""] + list(args) + (["-reqout", ",".join(reqs)] if reqs else [])
    r = run(argv, cwd=str(workdir))
    files = {n: (workdir / n).read_bytes() for n in outputs if (workdir / n).exists()}
    raw = [(workdir / n).read_bytes() for n in reqs if (workdir / n).exists()]
    return Outcome(r.returncode, files, [request_summary(d) for d in raw], r.stderr, r.stdout, raw)


def run_both(openssl: str, args: list, tmp_path: pathlib.Path, outputs=(), reqout: int = 0) -> dict:
    return {tool: run_tool(tool, openssl, args, tmp_path / tool, outputs, reqout) for tool in ("openssl", "cmpkit")}


def assert_same(results: dict) -> None:
    ours, theirs = results["cmpkit"], results["openssl"]
    assert "Traceback" not in ours.stderr, ours.stderr
    assert ours.returncode == theirs.returncode, f"cmpkit:\n{ours.stderr}\nopenssl:\n{theirs.stderr}"
    assert sorted(ours.files) == sorted(theirs.files), f"cmpkit:\n{ours.stderr}\nopenssl:\n{theirs.stderr}"
    for name in theirs.files:
        assert ours.files[name] == theirs.files[name], name
    assert len(ours.requests) == len(theirs.requests), [r["body"] for r in ours.requests]
    for i, (a, b) in enumerate(zip(ours.requests, theirs.requests)):
        assert a == b, f"request {i + 1} differs"

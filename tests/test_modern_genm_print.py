"""What a genm prints for each info type, cmpkit's client against openssl 3.4's (slow: both talk to
`cmpkit -port`, since the 3.4.0-dev mock crashes on rootCaCert and certReqTemplate): the same CMP info
and warning lines, output paths aside. Known difference kept out of the comparison: openssl 3.4
gives do_genm's warnings ("No -oldwithold given", "No specific support") after "will contact",
cmpkit when it checks the options, before it; the lines are compared as a multiset."""
import pathlib

import pytest

from .test_genm_cli import SRV, files  # noqa: F401 - the files fixture
from .test_genm_interop import CLIENT, SRV_PBM, _paths
from .tools import CMPKIT, Server, run

pytestmark = pytest.mark.slow

CASES = {
    "caCerts": ["-infotype", "caCerts", "-cacertsout", "@ca.pem"],
    "rootCaCert": ["-infotype", "rootCaCert", "-trusted", "old", "-newwithnew", "@nwn.pem", "-newwithold",
                   "@nwo.pem", "-oldwithnew", "@own.pem"],   # (openssl 3.4.0-dev crashes with -oldwithold)
    "certReqTemplate": ["-infotype", "certReqTemplate", "-template", "@t.der", "-keyspec", "@k.der"],
    "crlStatusList-newer": ["-infotype", "crlStatusList", "-oldcrl", "crl_old", "-crlout", "@c.crl"],
    "crlStatusList-up-to-date": ["-infotype", "crlStatusList", "-oldcrl", "crl_new", "-crlout", "@c.crl"],
    "signKeyPairTypes": ["-infotype", "signKeyPairTypes"],
    "caKeyUpdateInfo": ["-infotype", "caKeyUpdateInfo"],
}


def _lines(text: str, out: pathlib.Path) -> list:
    """The CMP info/warning/error lines without openssl's "file:line:" prefix, the output directory
    as "OUT", sorted."""
    lines = []
    for line in text.splitlines():
        if "CMP " in line:
            lines.append("CMP " + line.split("CMP ", 1)[1].rstrip().replace(str(out), "OUT"))
        elif line.startswith("Key algorithm"):   # openssl's keySpec lines have no prefix
            lines.append(line.rstrip())
    return sorted(lines)


@pytest.mark.parametrize("case", sorted(CASES))
def test_genm_prints_as_openssl_34(case, files, openssl34, tmp_path):  # noqa: F811
    printed = {}
    with Server(CMPKIT + SRV_PBM + _paths(files, SRV, tmp_path)) as server:
        for name, cmd in (("openssl", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
            out = tmp_path / name
            out.mkdir()
            r = run(cmd + CLIENT + ["-server", server.address] + _paths(files, CASES[case], out))
            assert r.returncode == 0, (name, r.stdout + r.stderr)
            printed[name] = _lines(r.stdout + r.stderr, out)
    assert printed["cmpkit"] == printed["openssl"]
    assert any(line.startswith("CMP info: ") and "GENP" not in line and "will contact" not in line
               for line in printed["openssl"])   # something about the answer itself

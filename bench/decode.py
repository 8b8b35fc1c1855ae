#!/usr/bin/env python3
"""Decode + re-encode of an IP carrying a certificate: cmpkit's DER readers and builders vs pyasn1_modules.rfc4210.

Also prints the cost of `import cmpkit` in a fresh interpreter. Usage: python bench/decode.py [N]
Needs pyasn1-modules (pip install pyasn1-modules) for the comparison.
"""
import pathlib
import statistics
import subprocess
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
VECTOR = pathlib.Path(__file__).resolve().parents[2] / "shared/vectors/lightweightcmpra/IrWithMacProtection/downstream_INIT_REP.PKI"


def per_call(fn, n=N, rounds=5):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n * 1000)
    return statistics.median(times)


def import_time(rounds=7):
    times = []
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import cmpkit"],
                             capture_output=True, text=True).stderr
        line = [ln for ln in out.splitlines() if ln.rstrip().endswith("| cmpkit")][-1]
        times.append(int(line.split("|")[1]) / 1000)
    return statistics.median(times)


def main():
    from cmpkit import PKIMessage
    from cmpkit.core import bodies
    from cmpkit.core.message import body_tlv
    data = VECTOR.read_bytes()

    def round_trip():
        # decode everything (header and body), then encode afresh from the decoded values, not
        # from the cached input bytes
        msg = PKIMessage.from_der(data)
        ca_pubs, responses = bodies.read_cert_rep(msg.body_content)
        body = bodies.cert_rep_der([(r.cert_req_id, r.status, r.cert) for r in responses], ca_pubs)
        fresh = PKIMessage(msg.header, body_tlv(msg.body_type, body), msg.protection, msg.extra_certs).to_der()
        assert fresh == data
    ours = per_call(round_trip)
    print(f"{'work':52} {'ms':>8}")
    print(f"{'cmpkit: decode + re-encode (fresh encode) of an IP':52} {ours:8.3f}")
    try:
        from pyasn1.codec.der import decoder, encoder
        from pyasn1_modules import rfc4210
    except ImportError:
        print("pyasn1_modules not installed: no comparison")
    else:
        full = per_call(lambda: encoder.encode(decoder.decode(data, asn1Spec=rfc4210.PKIMessage())[0]))
        print(f"{'pyasn1_modules.rfc4210: decode + re-encode':52} {full:8.3f}")
        print(f"{'speed-up (higher is better, target >= 3)':52} {full / ours:8.2f}")
    print(f"{'import cmpkit (cumulative, -X importtime)':52} {import_time():8.3f}")


if __name__ == "__main__":
    main()

"""Test helpers that run command lines: cmpkit and openssl cmp as clients and as HTTP servers."""
import os
import re
import subprocess
import sys

CMPKIT = [sys.executable, "-m", "cmpkit"]


def env():
    """An environment without proxies or config files that could change the outcome."""
    e = {k: v for k, v in os.environ.items()
         if k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "openssl_conf")}
    return e


def run(argv, cwd=None, timeout=60, input=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env(),
                          input=input)


class Server:
    """A CMP mock server on a free port (`-port 0`), found through its `ACCEPT addr:port` line."""

    def __init__(self, argv, cwd=None):
        self.proc = subprocess.Popen(argv + ["-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=cwd, env=env())
        self.port = None
        seen = []
        for line in self.proc.stdout:
            seen.append(line)
            m = re.match(r"ACCEPT \S*:(\d+) PID=\d+", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            err = self.proc.stderr.read()
            self.proc.kill()
            raise RuntimeError(f"server did not start: {''.join(seen)} {err}")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

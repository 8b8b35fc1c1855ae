"""Runs the code examples of the documentation (docs/*.rst) as tests/test_docs_examples.py asks.

The format, which the pages follow:

- ``.. code-block:: console`` blocks: a line starting with ``$ `` is a shell command (bash; a line
  ending with a backslash continues on the next line, as in bash), the
  lines after it up to the next command are output that must appear, line by line and in order,
  in what the command printed (stdout and stderr together; other lines may come between them).
  ``...`` in an expected line stands for any text; a line that is ``...`` alone is just a reader's
  hint. A command must exit with status 0 (write ``|| echo ...`` to show a failure).
- A command ending with `` &`` is a background server: it is started, its first output line is
  awaited (at most 30 s) and checked against the expected lines, and ``$ kill %N`` stops the N-th
  one (SIGTERM, then SIGKILL after 10 s). Every background process still running when the page's
  examples end (or fail) is stopped.
- The example port ``8080`` is replaced by a free port in commands and Python code, and the free
  port back by 8080 in outputs, so that pages and parallel runs never collide.
- ``export`` and ``cd`` persist from one command to the next, as in one terminal.
- ``.. code-block:: python`` blocks are exec'd in order in one namespace per page, in the
  page's directory (between the commands, in page order).
- ``.. include:: _x.rst`` is followed, as Sphinx does.

Each page runs in its own empty directory, with ``cmpkit`` on PATH running this checkout's code
(``python -m cmpkit`` with the PYTHONPATH of the tests).
"""
import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
EXAMPLE_PORT = "8080"
RUN_LANGUAGES = ("console", "python")


@dataclass
class Block:
    language: str
    text: str
    source: str  # file:line of the block's first line

    @property
    def steps(self):
        """[(command, [expected lines])] of a console block."""
        out = []
        for line in self.text.splitlines():
            if out and out[-1][0].endswith("\\") and not out[-1][1]:  # a continued command
                out[-1] = (out[-1][0] + "\n" + line, [])
            elif line.startswith("$ "):
                out.append((line[2:], []))
            elif out and line.strip():
                out[-1][1].append(line)
        return out


def _lines_with_includes(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = re.match(r"\.\. include:: (\S+)\s*$", line)
            if m:
                out.extend(_lines_with_includes(os.path.join(os.path.dirname(path), m.group(1))))
            else:
                out.append((f"{os.path.basename(path)}:{number}", line.rstrip("\n")))
    return out


def blocks(page):
    """Every ``.. code-block::`` of a page (includes followed), in order."""
    lines = _lines_with_includes(os.path.join(DOCS, page))
    found, i = [], 0
    while i < len(lines):
        source, line = lines[i]
        m = re.match(r"(\s*)\.\. code-block:: (\S+)\s*$", line)
        i += 1
        if not m:
            continue
        indent = len(m.group(1))
        while i < len(lines) and re.match(r"\s+:\w", lines[i][1]):  # directive options
            i += 1
        body = []
        while i < len(lines) and (not lines[i][1].strip() or len(lines[i][1]) - len(lines[i][1].lstrip()) > indent):
            body.append(lines[i][1])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        text_lines = [b for b in body]
        margin = min((len(b) - len(b.lstrip()) for b in text_lines if b.strip()), default=0)
        found.append(Block(m.group(2), "\n".join(b[margin:] for b in text_lines).strip("\n") + "\n", source))
    return found


def pages():
    return sorted(p for p in os.listdir(DOCS) if p.endswith(".rst") and not p.startswith("_"))


def runnable_pages():
    return [p for p in pages() if any(b.language in RUN_LANGUAGES for b in blocks(p))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pattern(expected):
    return re.compile(".*".join(re.escape(part) for part in expected.strip().split("...")))


def check_output(expected, output, where):
    """Each expected line (``...`` = any text) matches a whole output line, in order."""
    out_lines = [line.strip() for line in output.splitlines()]
    pos = 0
    for want in expected:
        if want.strip() == "...":
            continue
        pattern = _pattern(want)
        while pos < len(out_lines) and not pattern.fullmatch(out_lines[pos]):
            pos += 1
        if pos == len(out_lines):
            raise AssertionError(f"{where}: expected output line {want.strip()!r} not found (in order) in:\n{output}")
        pos += 1


@dataclass
class Job:
    proc: subprocess.Popen
    command: str
    output: list = field(default_factory=list)


class PageSession:
    """A page's terminal: its directory, environment, background jobs, and Python namespace."""

    def __init__(self, directory, env):
        self.cwd = str(directory)
        self.port = str(free_port())
        bindir = os.path.join(self.cwd, ".bin")
        os.makedirs(bindir)
        shim = os.path.join(bindir, "cmpkit")
        with open(shim, "w") as f:
            f.write(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m cmpkit \"$@\"\n")
        os.chmod(shim, 0o755)
        self.env = dict(env, PATH=bindir + os.pathsep + env.get("PATH", ""))
        self.jobs = []
        self.namespace = {"__name__": "__docs_example__"}
        self._envfile = os.path.join(bindir, "env")

    def _ported(self, text):
        return re.sub(rf"\b{EXAMPLE_PORT}\b", self.port, text)

    def _unported(self, text):
        return re.sub(rf"\b{self.port}\b", EXAMPLE_PORT, text)

    def run_command(self, command, expected, where):
        command = self._ported(command)
        if command.rstrip().endswith("&"):
            return self._start(command.rstrip()[:-1], expected, where)
        m = re.fullmatch(r"kill %(\d+)", command.strip())
        if m:
            return self._stop(int(m.group(1)), where)
        script = f"{command}\n__rc=$?\nenv -0 > {shlex.quote(self._envfile)}\nexit $__rc\n"
        r = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        output = self._unported(r.stdout)
        assert r.returncode == 0, f"{where}: `{command}` exited with {r.returncode}:\n{output}"
        assert "Traceback" not in output, f"{where}: {output}"
        with open(self._envfile, encoding="utf-8", errors="replace") as f:
            items = [item.split("=", 1) for item in f.read().split("\0") if "=" in item]
        self.env = {k: v for k, v in items if not k.startswith("BASH_FUNC_") and k not in ("_", "SHLVL", "__rc")}
        self.cwd = self.env.get("PWD", self.cwd)
        check_output(expected, output, where)

    def _start(self, command, expected, where):
        proc = subprocess.Popen(["bash", "-c", "exec " + command], cwd=self.cwd, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        job = Job(proc, command)
        self.jobs.append(job)
        first = threading.Event()

        def read():
            for line in proc.stdout:
                job.output.append(line)
                first.set()
            first.set()
        threading.Thread(target=read, daemon=True).start()
        first.wait(30)
        output = self._unported("".join(job.output))
        assert job.output and proc.poll() is None, f"{where}: background `{command}` did not start:\n{output}"
        check_output(expected, output, where)

    def _stop(self, number, where):
        assert 1 <= number <= len(self.jobs), f"{where}: no background job %{number}"
        self._terminate(self.jobs[number - 1])

    @staticmethod
    def _terminate(job):
        if job.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.proc.pid, signal.SIGTERM)
            try:
                job.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.proc.pid, signal.SIGKILL)
                job.proc.wait(timeout=10)

    def run_python(self, source, where):
        old = os.getcwd()
        os.chdir(self.cwd)
        try:
            exec(compile(self._ported(source), where, "exec"), self.namespace)  # noqa: S102 - the docs' own example
        finally:
            os.chdir(old)

    def close(self):
        for job in self.jobs:
            self._terminate(job)
            job.proc.stdout.close()


@contextlib.contextmanager
def process_state_kept():
    """What an in-process ``cmpkit.cli.main`` of a Python example changes, restored afterwards:
    the "cmpkit" logger, logging's record options, the SIGTERM handler, and plugins an example
    registered and did not unregister (it failed before)."""
    import logging

    from cmpkit import plugins
    log = logging.getLogger("cmpkit")
    saved_log = (list(log.handlers), log.propagate, log.level)
    saved_logging = {n: getattr(logging, n) for n in ("_srcfile", "logThreads", "logProcesses",
                                                       "logMultiprocessing", "logAsyncioTasks") if hasattr(logging, n)}
    saved_sigterm = signal.getsignal(signal.SIGTERM)
    before = set(plugins._manager.get_plugins()) if plugins._manager is not None else None
    try:
        yield
    finally:
        log.handlers[:], log.propagate = saved_log[0], saved_log[1]
        log.setLevel(saved_log[2])
        for name, value in saved_logging.items():
            setattr(logging, name, value)
        signal.signal(signal.SIGTERM, saved_sigterm)
        if plugins._manager is not None:
            for plugin in set(plugins._manager.get_plugins()) - (before or set()):
                if before is not None:
                    plugins._manager.unregister(plugin)
            if before is None:
                plugins.reset_manager()  # the examples built the manager: the next user builds its own


def run_page(page, directory, env):
    """Runs every console and Python example of ``page`` in ``directory``, in page order."""
    session = PageSession(directory, env)
    try:
        for block in blocks(page):
            if block.language == "console":
                for command, expected in block.steps:
                    session.run_command(command, expected, f"{block.source}: $ {command}")
            elif block.language == "python":
                with process_state_kept():
                    session.run_python(block.text, block.source)
    finally:
        session.close()
    return session

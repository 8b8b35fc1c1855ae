"""Every code example of the documentation runs (the format: tests/docs_examples.py).

Fast: the examples are found and well-formed. Slow: each page's console commands and Python
blocks run in order in an empty directory, against the servers the page itself starts.
"""
import os
import shlex
import shutil
import sys

import pytest

from .docs_examples import DOCS, RUN_LANGUAGES, PageSession, blocks, check_output, pages, run_page, runnable_pages
from .tools import env

# pages with examples, and what they need besides cmpkit and openssl
NEEDS = {"pkcs11.rst": ("softhsm2-util", "pkcs11-tool")}
SOFTHSM_LIB = "/usr/lib/softhsm/libsofthsm2.so"  # the path pkcs11.rst gives pkcs11-tool (Debian, Ubuntu)


def test_pages_with_examples():
    assert {"quickstart.rst", "plugins.rst", "pkcs11.rst", "differences.rst", "testing.rst", "api.rst"} <= set(runnable_pages())


@pytest.mark.parametrize("page", pages())
def test_code_blocks_are_well_formed(page):
    for block in blocks(page):
        assert block.language in RUN_LANGUAGES + ("toml", "text"), f"{block.source}: {block.language}"
        if block.language == "console":
            steps = block.steps
            assert steps, f"{block.source}: a console block without a '$ ' command"
            for command, _ in steps:
                assert command.strip() and not command.startswith(" "), block.source
        elif block.language == "python":
            compile(block.text, block.source, "exec")


def test_every_background_server_is_stopped_by_its_page():
    for page in runnable_pages():
        commands = [c for b in blocks(page) if b.language == "console" for c, _ in b.steps]
        started = sum(c.rstrip().endswith("&") for c in commands)
        kills = sorted(int(c.split("%")[1]) for c in commands if c.startswith("kill %"))
        assert kills == list(range(1, started + 1)), page


def test_console_steps():
    from .docs_examples import Block
    block = Block("console", "$ a -x \\\n    -y &\nout 1\n\n$ kill %1\n", "x")
    assert block.steps == [("a -x \\\n    -y &", ["out 1"]), ("kill %1", [])]


def test_output_matching():
    check_output(["ACCEPT ...:8080 PID=...", "...", "b"], "noise\nACCEPT [::]:8080 PID=12\na\n b \n", "x")
    with pytest.raises(AssertionError):
        check_output(["b", "a"], "a\nb\n", "x")  # order matters
    with pytest.raises(AssertionError):
        check_output(["a"], "ab\n", "x")  # whole lines


def test_runner_fails_on_a_failing_command(tmp_path):
    session = PageSession(tmp_path, env())
    try:
        with pytest.raises(AssertionError, match="exited with 3"):
            session.run_command("exit 3", [], "x")
        session.run_command("export DEMO=1 && mkdir sub && cd sub", [], "x")
        session.run_command('test "$DEMO" = 1 && pwd', [os.path.join(str(tmp_path), "sub")], "x")
    finally:
        session.close()


@pytest.mark.slow
def test_cmpkit_on_path_is_this_checkout(tmp_path):
    session = PageSession(tmp_path, env())
    root = os.path.dirname(DOCS)
    try:
        session.run_command("cmpkit -version", ["cmpkit ..."], "x")
        session.run_command(f"{shlex.quote(sys.executable)} -c 'import cmpkit; print(cmpkit.__file__)'",
                            [os.path.join(root, "cmpkit", "__init__.py")], "x")
    finally:
        session.close()


@pytest.mark.slow
@pytest.mark.parametrize("page", runnable_pages())
def test_page_examples_run(page, tmp_path, openssl):
    for tool in NEEDS.get(page, ()):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if page == "pkcs11.rst":
        pytest.importorskip("PyKCS11", reason="PyKCS11 is not installed")
        if not os.path.isfile(SOFTHSM_LIB):
            pytest.skip(f"SoftHSM2's library is not at {SOFTHSM_LIB}")
    run_page(page, tmp_path, env())

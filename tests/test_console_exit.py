"""The `cmpkit` command's process settings (cmpkit.cli.console): a sparser garbage collector and
an exit without the interpreter's teardown, which must lose nothing: exit functions run, buffered
output is written, a running thread is waited for, the status is main()'s."""
import gc
import sys
import textwrap

import pytest

from cmpkit import cli

from .tools import CMPKIT, run


def test_main_as_a_library_leaves_the_collector_alone():
    before = gc.get_threshold()
    assert cli.main(["-config", "", "-cmd", "genm"]) == 1  # fails (no server): no run needed
    assert gc.get_threshold() == before


def _console(tmp_path, body: str, argv):
    """Run ``body`` then cmpkit.cli.console() with ``argv`` in a fresh interpreter."""
    script = tmp_path / "console.py"
    script.write_text(textwrap.dedent(body) + f"\nimport sys\nsys.argv = ['cmpkit', *{argv!r}]\n"
                      "from cmpkit.cli import console\nconsole()\n")
    return run([sys.executable, str(script)], cwd=tmp_path)


@pytest.mark.slow
def test_exit_functions_run_and_status_is_mains(tmp_path):
    marker = tmp_path / "atexit.txt"
    r = _console(tmp_path, f"""
        import atexit
        atexit.register(lambda: open({str(marker)!r}, "w").write("ran"))
        """, ["-config", "", "-cmd", "genm"])
    assert r.returncode == 1 and "CMP error:" in r.stderr  # no -server: main()'s status and message
    assert marker.read_text() == "ran"


@pytest.mark.slow
def test_buffered_output_is_written_in_full(tmp_path):
    fast = run([*CMPKIT, "-help"], cwd=tmp_path)  # stdout is a pipe: block-buffered
    usual = run([sys.executable, "-c", "import sys; from cmpkit.cli import main; sys.exit(main())", "-help"],
                cwd=tmp_path)
    assert fast.returncode == usual.returncode == 0
    assert len(fast.stdout) > 8192 and fast.stdout == usual.stdout


@pytest.mark.slow
def test_gc_threshold_of_the_command(tmp_path):
    r = _console(tmp_path, """
        import atexit, gc, sys
        atexit.register(lambda: sys.stdout.write(f"threshold {gc.get_threshold()[0]}\\n"))
        """, ["-config", "", "-cmd", "genm"])
    assert "threshold 50000" in r.stdout


@pytest.mark.slow
def test_a_running_thread_is_waited_for(tmp_path):
    marker = tmp_path / "thread.txt"
    r = _console(tmp_path, f"""
        import threading, time
        def late():
            time.sleep(0.5)
            open({str(marker)!r}, "w").write("done")
        threading.Thread(target=late).start()
        """, ["-config", "", "-cmd", "genm"])
    assert r.returncode == 1
    assert marker.read_text() == "done"  # os._exit would have cut the thread off


@pytest.mark.slow
def test_a_profiler_gets_its_report(tmp_path):
    out = tmp_path / "run.prof"
    r = run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "cmpkit", "-config", "", "-cmd", "genm"],
            cwd=tmp_path)
    assert "CMP error:" in r.stderr  # (cProfile itself ends with status 0 after SystemExit)
    import pstats
    assert pstats.Stats(str(out)).total_calls > 0  # written after the run returned

"""The documentation site (docs/): it builds with Sphinx without a single warning (slow), its CLI
reference lists every option the command accepts, and its API page names the whole facade."""
import ast
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from .tools import BUNDLED_PLUGINS, bundled_options, env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
# the build command that index.rst and README.md give, which test_site_builds_without_warnings runs
BUILD = "python -m sphinx -W --keep-going -b html docs docs/_build/html"


def _conf_value(name):
    tree = ast.parse(open(os.path.join(DOCS, "conf.py"), encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def _extension():
    spec = importlib.util.spec_from_file_location("cmpkit_options_ext", os.path.join(DOCS, "_ext", "cmpkit_options.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference_text():
    """The reStructuredText the ``.. cmpkit-options::`` directive generates."""
    ext = _extension()
    lines = []
    for group, opts in ext.grouped(ext.gather_options(_conf_value("cmpkit_bundled_plugins"))):
        lines += [group, "-" * len(group), ""]
        for opt in opts:
            lines += ext.option_lines(opt)
    return "\n".join(lines)


def test_conf_lists_the_bundled_plugins():
    """conf.py's plugin list is pyproject.toml's entry points (the bundled plugins)."""
    text = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    section = text.split('[project.entry-points."cmpkit.plugins"]', 1)[1].split("\n[", 1)[0]
    entry_points = sorted(re.findall(r'^\w+\s*=\s*"([\w.]+)"', section, re.M))
    assert sorted(_conf_value("cmpkit_bundled_plugins")) == entry_points
    assert sorted(m.split(".")[0] for m in entry_points) == sorted(BUNDLED_PLUGINS)


def test_cli_reference_lists_every_option_once():
    text = _reference_text()
    documented = re.findall(r"^\.\. option:: -(\S+)", text, re.M)
    names = [o.name for o in bundled_options()]
    assert sorted(documented) == sorted(names)
    assert len(set(documented)) == len(documented)


def test_cli_reference_follows_help_order():
    """Groups and options come in the order of ``cmpkit -help`` (format_help)."""
    from cmpkit.core.optdecl import GROUPS
    from cmpkit.core.options import format_help
    help_names = re.findall(r"^ -(\S+)", format_help(bundled_options(), GROUPS), re.M)
    text = _reference_text()
    assert re.findall(r"^\.\. option:: -(\S+)", text, re.M) == help_names
    help_groups = re.findall(r"^(\S.*):$", format_help(bundled_options(), GROUPS), re.M)
    doc_groups = [line for line, under in zip(text.splitlines(), text.splitlines()[1:]) if under and set(under) == {"-"}]
    assert doc_groups == help_groups


def test_extensions_are_marked():
    ext = _extension()
    for opt in bundled_options():
        marked = ext.EXTENSION_NOTE in "\n".join(ext.option_lines(opt))
        assert marked == (opt.extension or opt.order is None), opt.name


def test_api_page_names_the_facade():
    import cmpkit
    text = open(os.path.join(DOCS, "api.rst"), encoding="utf-8").read()
    for name in cmpkit.__all__:
        assert re.search(rf"\b{name}\b", text), name


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="sphinx is not installed (the docs extra)")
    argv = BUILD.split()
    assert argv[:3] == ["python", "-m", "sphinx"] and argv[-2:] == ["docs", "docs/_build/html"]
    r = subprocess.run([sys.executable, *argv[1:-2], "-q", "-d", str(tmp_path / "doctrees"), DOCS, str(tmp_path / "html")],
                       capture_output=True, text=True, timeout=300, env=env(), cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in r.stderr and "ERROR" not in r.stderr, r.stderr
    cli = (tmp_path / "html" / "cli.html").read_text(encoding="utf-8")
    for opt in bundled_options():
        assert f'id="cmdoption-{opt.name}"' in cli, opt.name
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    for name in ("PKIMessage", "write_atomically", "Transport", "Signer", "LoadContext", "CmpError"):
        assert name in api, name
    plugins = (tmp_path / "html" / "plugins.html").read_text(encoding="utf-8")
    assert 'id="cmpkit.hookspecs.cmpkit_get_transport"' in plugins


def test_plugin_guide_documents_every_hook():
    """A hook added to cmpkit.hookspecs needs its place in plugins.rst's stages."""
    import inspect

    from cmpkit import hookspecs
    hooks = [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("cmpkit_")]
    text = open(os.path.join(DOCS, "plugins.rst"), encoding="utf-8").read()
    documented = re.findall(r"^\.\. autofunction:: cmpkit\.hookspecs\.(\w+)", text, re.M)
    assert sorted(documented) == sorted(hooks)


# ---- the examples that are not run as commands are checked here

def test_build_command_is_the_tested_one():
    for name in ("docs/index.rst", "README.md"):
        text = open(os.path.join(ROOT, name), encoding="utf-8").read()
        shown = re.findall(r"python -m sphinx [^\n`]*", text)
        assert shown == [BUILD], name
        assert "pip install '.[docs]'" in text, name
    extras = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    assert re.search(r'^docs = \["sphinx>=7"\]', extras, re.M)
    assert re.search(r'^test = \[.*"sphinx>=7"', extras, re.M)


def test_entry_point_example():
    tomllib = pytest.importorskip("tomllib")
    from cmpkit.plugins import ENTRY_POINT_GROUP

    from .docs_examples import blocks
    (toml,) = [b for b in blocks("plugins.rst") if b.language == "toml"]
    table = tomllib.loads(toml.text)["project"]["entry-points"]
    assert list(table) == [ENTRY_POINT_GROUP]
    assert table[ENTRY_POINT_GROUP] == {"urllib": "cmpkit_urllib"}


def test_pkcs11_uri_examples_parse():
    from cmpkit_pkcs11.uri import parse_pkcs11_uri
    text = open(os.path.join(DOCS, "pkcs11.rst"), encoding="utf-8").read()
    uris = re.findall(r"pkcs11:token=[^\s\"`]+", text)
    assert len(uris) >= 3
    for uri in uris:
        parsed = parse_pkcs11_uri(uri)
        assert parsed.token == "demo" and parsed.object == "enroll", uri

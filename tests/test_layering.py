"""The layout keeps its promises: dependencies run one way (cli -> app -> core), no import cycles,
plugins use only the public cmpkit API, and the core does no I/O (files, sockets, environment,
clock, stdin). Read from the source with ast, so every import counts, also those inside functions."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLUGINS = ("cmpkit_file", "cmpkit_http", "cmpkit_mock", "cmpkit_pkcs11")
# what a plugin may import of cmpkit: the facade, the contracts, the hooks, the errors, the core
PUBLIC = ("cmpkit", "cmpkit.types", "cmpkit.hookspecs", "cmpkit.errors", "cmpkit.core")


def modules():
    """{module name: path} of cmpkit and the bundled plugins."""
    found = {}
    for path in sorted((ROOT / "cmpkit").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for plugin in PLUGINS:
        for path in sorted((ROOT / "plugins" / plugin).rglob("*.py")):
            parts = path.relative_to(ROOT / "plugins").with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def imports_of(name: str, path: pathlib.Path) -> set:
    """Every module of ours that ``name`` imports (absolute names), wherever the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:       # `from x import name` names no module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def _parents_only(name: str, target: str) -> bool:
    """A package's __init__ is imported on the way to any of its modules: not an edge of a cycle."""
    return name.startswith(target + ".")


def test_no_import_cycles():
    graph = {n: {t for t in targets if not _parents_only(n, t)} for n, targets in GRAPH.items()}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def _layer(name: str) -> str:
    if name.startswith("cmpkit.core"):
        return "core"
    if name.startswith("cmpkit.app"):
        return "app"
    return name


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("cmpkit.core")))
def test_core_imports_only_the_core_errors_and_types(name):
    allowed = {"cmpkit.errors", "cmpkit.types", "cmpkit"}
    bad = {t for t in GRAPH[name] if not t.startswith("cmpkit.core") and t not in allowed}
    assert bad == set(), f"{name} reaches outside the core"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("cmpkit.app")))
def test_the_shell_does_not_import_the_command_line_or_a_plugin(name):
    bad = {t for t in GRAPH[name] if t in ("cmpkit.cli", "cmpkit.__main__") or t.split(".")[0] in PLUGINS}
    assert bad == set()


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.split(".")[0] in PLUGINS))
def test_plugins_use_only_the_public_api(name):
    own = name.split(".")[0]
    bad = set()
    for target in GRAPH[name]:
        top = target.split(".")[0]
        if top == own:
            continue
        if top in PLUGINS or not any(target == p or target.startswith(p + ".") and p != "cmpkit"
                                     for p in PUBLIC):
            bad.add(target)
    assert bad == set(), f"{name} imports another plugin or the shell's internals"


# ---------------------------------------------------------------- no I/O in the core

FORBIDDEN_MODULES = {"socket", "ssl", "getpass", "time", "select", "subprocess", "asyncio", "shutil",
                     "tempfile", "http", "urllib", "httpx", "threading"}
FORBIDDEN_CALLS = {"open", "input", "print", "breakpoint"}
FORBIDDEN_ATTRIBUTES = {  # module -> attributes that touch files, the environment, the clock or stdin
    "os": {"environ", "environb", "getenv", "getenvb", "open", "read", "write", "fstat", "stat", "listdir",
           "scandir", "remove", "unlink", "replace", "rename", "mkdir", "makedirs", "path", "getcwd",
           "chdir", "fsync", "walk"},
    "sys": {"stdin", "stdout", "stderr", "argv", "exit"},
    "datetime": {"now", "utcnow", "today"},
    "pathlib": {"Path"},
}


def io_in(path: pathlib.Path) -> list:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            if (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"from {node.module} import ...")
            for a in node.names:
                if a.name in FORBIDDEN_ATTRIBUTES.get(node.module or "", ()):
                    found.append(f"from {node.module} import {a.name}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{node.func.id}()")
        elif isinstance(node, ast.Attribute):
            chain = []
            inner = node
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                names = [inner.id] + list(reversed(chain))
                for i in range(len(names) - 1):
                    if names[i + 1] in FORBIDDEN_ATTRIBUTES.get(names[i], ()):
                        found.append(".".join(names[:i + 2]))
    return found


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("cmpkit.core")))
def test_the_core_does_no_io(name):
    assert io_in(MODULES[name]) == [], f"{name} touches files, the environment, the clock or stdin"


def test_the_io_check_finds_io(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os, time\nfrom sys import stdin\nx = os.environ.get('A')\nopen('f')\n"
                     "os.path.exists('f')\nimport datetime\ndatetime.datetime.now()\n")
    assert set(io_in(probe)) == {"import time", "os.environ", "open()", "os.path", "datetime.datetime.now",
                                 "from sys import stdin"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_asn1_library_at_run_time(name):
    """Messages are read and written by cmpkit's own DER readers and builders; pyasn1 serves only
    the tests, as a second opinion (tests/asn1_schema.py)."""
    tree = ast.parse(MODULES[name].read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
        {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
    assert not {m for m in imported if m.split(".")[0] in ("pyasn1", "pyasn1_modules", "asn1crypto")}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_readable(name):
    """No module grows past about 800 lines (issue 12): split it by concern first."""
    assert len(MODULES[name].read_text().splitlines()) <= 800

"""What pip installs from pyproject.toml is what runs from the checkout: every package directory of
cmpkit and the bundled plugins is listed, so a non-editable install (a user's, the venvs of
test_schemes.py and test_pytest_plugin.py) has no module missing; the pytest plugin's entry point
names a module that exists."""
import pathlib

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_directory_is_installed():
    setuptools = PROJECT["tool"]["setuptools"]
    dirs = setuptools["package-dir"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cmpkit").rglob("__init__.py")}
    on_disk |= {".".join(p.parent.relative_to(ROOT / "plugins").parts)
                for p in (ROOT / "plugins").rglob("__init__.py")}
    assert on_disk == set(setuptools["packages"])
    for package in setuptools["packages"]:
        assert (ROOT / dirs[package] / "__init__.py").is_file(), package


def test_the_pytest_plugin_entry_point():
    module = PROJECT["project"]["entry-points"]["pytest11"]["cmpkit"]
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file()

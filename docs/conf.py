"""Sphinx configuration of cmpkit's documentation site (built with ``python -m sphinx -W -b html docs out``).

The site documents the checkout it lies in: the repository and its ``plugins/`` folder come first
on ``sys.path``, so autodoc and the option reference read this tree's code, not an installed copy.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (os.path.join(HERE, "_ext"), os.path.join(ROOT, "plugins"), ROOT):
    sys.path.insert(0, path)

project = "cmpkit"
author = "the cmpkit authors"
copyright = "the cmpkit authors, Apache-2.0"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "cmpkit_options",  # docs/_ext/cmpkit_options.py: the ``.. cmpkit-options::`` directive
]
# the plugins bundled with cmpkit (pyproject.toml's entry points), whose options the CLI reference lists
cmpkit_bundled_plugins = ["cmpkit_file.plugin", "cmpkit_http.plugin", "cmpkit_mock.plugin", "cmpkit_pkcs11.plugin"]

root_doc = "index"
exclude_patterns = ["_build", "_*.rst"]  # _*.rst: snippets pulled in with ``.. include::``
templates_path = []
html_theme = "alabaster"
html_theme_options = {"description": "CMP toolkit, option-compatible with openssl cmp", "fixed_sidebar": True}
html_static_path = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

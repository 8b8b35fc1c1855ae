"""Sphinx extension: ``.. cmpkit-options::`` writes cmpkit's option reference from the declarations.

The options are those the command accepts with the bundled plugins: the core's
(:data:`cmpkit.core.optdecl.OPTIONS`) plus each bundled plugin's ``cmpkit_options`` hook (the
modules named by ``cmpkit_bundled_plugins`` in conf.py). They are grouped and ordered as
``cmpkit -help`` groups them (:func:`cmpkit.core.options.format_help`): the man page's groups
(:data:`cmpkit.core.optdecl.GROUPS`) in order, then the others; in a group, ``openssl cmp``'s
options in man-page order, then cmpkit's extensions. Each option becomes a Sphinx ``option``
entry, so that ``:option:`-server``` links to it.
"""
from __future__ import annotations

import importlib

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

EXTENSION_NOTE = "cmpkit extension: ``openssl cmp`` has no such option."


def gather_options(plugin_modules) -> list:
    """The core's declarations followed by each plugin module's ``cmpkit_options()``."""
    from cmpkit.core.optdecl import OPTIONS
    options = list(OPTIONS)
    for module in plugin_modules:
        hook = getattr(importlib.import_module(module), "cmpkit_options", None)
        options.extend(hook() if hook is not None else ())
    return options


def grouped(options) -> list:
    """[(group, [options])] in -help's order (empty groups left out)."""
    from cmpkit.core.optdecl import GROUPS
    from cmpkit.core.options import EXTENSION_GROUP
    by_group: dict = {g: [] for g in GROUPS}
    for opt in options:
        by_group.setdefault(opt.group or EXTENSION_GROUP, []).append(opt)
    # the sort key of format_help: man-page order first, then the rest in declaration order
    return [(g, sorted(opts, key=lambda o: (o.order is None, o.order or 0))) for g, opts in by_group.items() if opts]


def _escape(text: str) -> str:
    """Help text as literal reStructuredText (no markup is meant in a -help line)."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("|", "\\|").replace("_", "\\_")


def option_lines(opt) -> list:
    """The reStructuredText of one option entry."""
    signature = f"-{opt.name}" + (f" <{opt.metavar or 'val'}>" if opt.takes_value else "")
    lines = [f".. option:: {signature}", ""]
    lines.append("   " + (_escape(opt.help) or "(no description)"))
    facts = []
    said = (opt.help + " " + opt.metavar).lower()  # what the help line already tells is not repeated
    if opt.kind == "choice" and not all(str(c).lower() in said for c in opt.choices):
        facts.append("one of " + ", ".join(f"``{c}``" for c in opt.choices))
    if opt.kind == "int" and (opt.minimum is not None or opt.maximum is not None):
        low = "" if opt.minimum is None else str(opt.minimum)
        high = "" if opt.maximum is None else str(opt.maximum)
        facts.append(f"range {low}..{high}")
    if opt.default not in (None, False, "") and "default" not in said:
        facts.append(f"default ``{opt.default}``")
    if opt.repeatable:
        facts.append("may be given more than once")
    if opt.no_effect:
        facts.append("accepted for compatibility, without effect")
    if facts:
        lines += ["", "   " + "; ".join(facts) + "."]
    if opt.extension or opt.order is None:
        lines += ["", "   " + EXTENSION_NOTE]
    lines.append("")
    return lines


class CmpkitOptions(SphinxDirective):
    """``.. cmpkit-options::``: every option, one section per -help group."""

    has_content = False

    def run(self):
        options = gather_options(self.config.cmpkit_bundled_plugins)
        lines: list = []
        for group, opts in grouped(options):
            lines += [group, "-" * len(group), ""]
            for opt in opts:
                lines += option_lines(opt)
        node = nodes.section()
        node.document = self.state.document
        source = self.get_source_info()[0]
        content = StringList()
        for i, line in enumerate(lines):
            content.append(line, source, i)
        # titles inside a directive: parse as a nested document section
        from sphinx.util.nodes import nested_parse_with_titles
        nested_parse_with_titles(self.state, content, node)
        return node.children


def setup(app):
    app.add_config_value("cmpkit_bundled_plugins", [], "env")
    app.add_directive("cmpkit-options", CmpkitOptions)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

"""Tests to ensure certain things are documented: every hookspec (typed, with a docstring that has a
summary first line, a ``:param name:`` line per parameter and a ``:return:`` line when it returns
something, in its stage's section), every option's help text (the core's and every bundled
plugin's) and a docstring opening every module of cmpkit/ and plugins/ with a summary line."""
import ast
import inspect
import pathlib
import re

import pytest

from cmpkit import hookspecs

from .tools import bundled_options

ROOT = pathlib.Path(__file__).resolve().parents[1]

HOOKSPECS = sorted(name for name, obj in vars(hookspecs).items()
                   if inspect.isfunction(obj) and getattr(obj, "cmpkit_spec", None) is not None)
#: the stages of a run, in data-flow order: hookspecs.py has one section per stage, in this order
STAGES = ("Options", "Configure", "Credentials", "Transport", "Verification", "Server", "Observation",
          "Unconfigure")
OPTIONS = bundled_options()
MODULES = sorted(p.relative_to(ROOT).as_posix() for top in ("cmpkit", "plugins") for p in (ROOT / top).rglob("*.py"))


def test_there_is_something_to_check():
    assert len(HOOKSPECS) >= 14 and "cmpkit_configure" in HOOKSPECS and "cmpkit_unconfigure" in HOOKSPECS
    assert len(OPTIONS) > 132 and len(MODULES) > 30


@pytest.mark.parametrize("name", HOOKSPECS)
def test_hookspec_is_typed_and_documented(name):
    func = getattr(hookspecs, name)
    signature = inspect.signature(func)
    assert func.__doc__ and func.__doc__.splitlines()[0].strip(), f"{name} has no docstring with a summary first line"
    doc = inspect.getdoc(func)
    for param in signature.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}: parameter {param.name} has no type"
        assert re.search(rf"^:param {re.escape(param.name)}:", doc, re.M), f"{name}: no ':param {param.name}:' line"
    returns = signature.return_annotation
    assert returns is not inspect.Signature.empty, f"{name} has no return type"
    if returns not in (None, "None"):
        assert re.search(r"^:return:", doc, re.M), f"{name} returns {returns} but has no ':return:' line"


def test_hookspecs_are_grouped_by_stage_in_data_flow_order():
    source = inspect.getsource(hookspecs)
    sections = list(re.finditer(r"^# ([A-Z][a-z]+):", source, re.M))
    assert [m.group(1) for m in sections] == list(STAGES)
    stage_of = {}
    for i, m in enumerate(sections):
        end = sections[i + 1].start() if i + 1 < len(sections) else len(source)
        for name in re.findall(r"^def (cmpkit_\w+)\(", source[m.start():end], re.M):
            stage_of[name] = m.group(1)
    assert sorted(stage_of) == HOOKSPECS  # each hookspec in a section
    assert stage_of["cmpkit_options"] == "Options" and stage_of["cmpkit_unconfigure"] == "Unconfigure"


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_option_has_help(option):
    assert option.help.strip(), f"option -{option.name} has no help text"


@pytest.mark.parametrize("path", MODULES)
def test_module_has_docstring(path):
    tree = ast.parse((ROOT / path).read_text(), path)
    doc = ast.get_docstring(tree, clean=False)
    assert doc and doc.splitlines()[0].strip(), f"{path} has no docstring with a summary first line"
    assert tree.body[0].lineno == 1, f"{path}: the docstring does not open the module"

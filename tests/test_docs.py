"""The API reference lists every public name, and every public name documents itself.

``docs/api.rst`` is parsed as text (no sphinx needed): its ``.. autosummary::``
entries, qualified by the preceding ``.. currentmodule::``, must cover the
``__all__`` of every public module and must all resolve to importable objects.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"

# Public modules whose ``__all__`` the API reference must cover.
PUBLIC_MODULES = [
    "sktransfer",
    "sktransfer.datasets",
    "sktransfer.evaluation",
    "sktransfer.exceptions",
    "sktransfer.featurizers",
    "sktransfer.metrics",
    "sktransfer.selection",
    "sktransfer.utils",
    "sktransfer.utils.estimator_checks",
]
# Names of ``sktransfer.__all__`` that are not documented as API entries.
NOT_API_ENTRIES = {
    "__version__",
    "datasets",
    "evaluation",
    "exceptions",
    "featurizers",
    "metrics",
    "selection",
    "utils",
}

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?P<name>[\w:-]+)::\s*(?P<arg>.*)$")


def _indent(line):
    return len(line) - len(line.lstrip())


def parse_autosummary_entries(text):
    """Return the ``(module, name)`` of every autosummary entry in ``text``.

    ``module`` is the argument of the last ``currentmodule`` (or ``module``)
    directive before the entry, or None.
    """
    entries = []
    module = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if match is None:
            continue
        name, arg = match["name"], match["arg"].strip()
        if name in ("currentmodule", "module", "py:currentmodule", "py:module"):
            module = None if arg == "None" else arg
            continue
        if name != "autosummary":
            continue
        base = len(match["indent"])
        while i < len(lines):
            line = lines[i]
            if line.strip() and _indent(line) <= base:
                break
            i += 1
            stripped = line.strip()
            if not stripped or stripped.startswith((":", "..")):
                continue
            entries.append((module, stripped.lstrip("~")))
    return entries


def _resolve(module, name):
    """Import ``module`` and return the object at the dotted ``name`` in it."""
    if module is None:
        module, _, name = name.rpartition(".")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _public_names():
    """Return ``(module, name, object)`` for every public name of the package."""
    public = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if module_name == "sktransfer" and name in NOT_API_ENTRIES:
                continue
            public.append((module_name, name, getattr(module, name)))
    return public


@pytest.fixture(scope="module")
def api_entries():
    assert API_RST.is_file(), f"{API_RST} is missing"
    entries = parse_autosummary_entries(API_RST.read_text(encoding="utf-8"))
    assert entries, f"no autosummary entries found in {API_RST}"
    return entries


def test_parse_autosummary_entries():
    text = """
.. currentmodule:: pkg

.. autosummary::
   :toctree: generated/
   :template: class.rst

   Foo
   bar

Text after the block.

.. currentmodule:: pkg.sub

.. autosummary::

   baz
"""
    assert parse_autosummary_entries(text) == [
        ("pkg", "Foo"),
        ("pkg", "bar"),
        ("pkg.sub", "baz"),
    ]


def test_api_reference_lists_every_public_name(api_entries):
    documented = {}
    for module, name in api_entries:
        try:
            documented.setdefault(name.rpartition(".")[2], []).append(
                _resolve(module, name)
            )
        except (ImportError, AttributeError):
            continue  # reported by test_api_reference_entries_are_importable
    missing = [
        f"{module}.{name}"
        for module, name, obj in _public_names()
        if not any(candidate is obj for candidate in documented.get(name, []))
    ]
    assert not missing, (
        f"public names missing from the autosummary lists of {API_RST}: "
        f"{', '.join(missing)}. Add each one, as the bare name on its own line, "
        "to an autosummary block under the matching '.. currentmodule::'."
    )


def test_api_reference_entries_are_importable(api_entries):
    broken = []
    for module, name in api_entries:
        try:
            _resolve(module, name)
        except (ImportError, AttributeError) as exc:
            broken.append(f"{module}.{name} ({type(exc).__name__}: {exc})")
    assert not broken, (
        f"autosummary entries of {API_RST} that do not resolve to an importable "
        f"object: {'; '.join(broken)}"
    )


_EXAMPLES_SECTION = re.compile(r"^Examples\n-{8,}\n(?P<body>.*)", re.M | re.S)


def test_public_objects_have_examples():
    missing = []
    for module, name, obj in _public_names():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        doc = inspect.getdoc(obj) or ""
        section = _EXAMPLES_SECTION.search(doc)
        if section is None:
            missing.append(f"{module}.{name} (no Examples section)")
        elif ">>>" not in section["body"]:
            missing.append(f"{module}.{name} (Examples section without a doctest)")
    assert not missing, (
        "public classes and functions whose docstring lacks a numpydoc 'Examples' "
        f"section with a doctest: {', '.join(missing)}"
    )

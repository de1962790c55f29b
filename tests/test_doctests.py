"""The examples in sigrs's docstrings run and print what they say.

Every ``>>>`` example of every sigrs module, and of the documentation's
reST pages (docs/), is run with :mod:`doctest`, so a wrong example fails the
test command, not a user. A module whose optional
dependency is missing (dask for ``sigrs.dask``, scikit-learn for
``sigrs.sklearn``, torch for ``sigrs.signatory``) is skipped. The examples
see ``np``, ``sigrs`` and (when installed) ``torch`` as if imported, and
``signatory`` as ``sigrs.signatory`` in that package's modules (and ``da`` as
``dask.array`` in ``sigrs.dask``), and run with
NumPy's default print options and a fixed seed, so printed numbers are
reproducible.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import numpy as np
import pytest

import sigrs

# Modules with an optional dependency, and that dependency.
_NEEDS = {"sigrs.dask": "dask", "sigrs.sklearn": "sklearn", "sigrs.signatory": "torch"}


def _module_names() -> list[str]:
    """The sigrs modules whose source has a ``>>>`` example, found without
    importing them (an optional dependency may be missing)."""
    root = Path(sigrs.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(root.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _needs(name: str) -> str | None:
    for prefix, package in _NEEDS.items():
        if name == prefix or name.startswith(prefix + "."):
            return package
    return None


@pytest.mark.parametrize("name", _module_names())
def test_docstring_examples_run_as_written(name):
    package = _needs(name)
    if package is not None:
        pytest.importorskip(package)
    module = importlib.import_module(name)
    globs = {"np": np, "sigrs": sigrs}
    try:
        import torch
    except ImportError:
        pass
    else:
        globs["torch"] = torch
    if name.startswith("sigrs.signatory"):
        globs["signatory"] = importlib.import_module("sigrs.signatory")
    if name == "sigrs.dask":
        globs["da"] = importlib.import_module("dask.array")
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name, globs=globs) if t.examples]
    assert tests, f"{name} has '>>>' in its source but no docstring examples doctest can find"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    with np.printoptions(**_DEFAULT_PRINT_OPTIONS):
        for test in sorted(tests, key=lambda t: t.name):
            np.random.seed(0)
            runner.run(test, out=report.write, clear_globs=True)
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples failed in {name}:\n{report.getvalue()}"


# The print options of a fresh interpreter (another test may have changed them).
_DEFAULT_PRINT_OPTIONS = dict(
    precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False, nanstr="nan", infstr="inf",
    sign="-", floatmode="maxprec", legacy=False,
)


_DOCS = Path(__file__).resolve().parent.parent / "docs"


def _doc_pages() -> list[str]:
    if not _DOCS.is_dir():
        return []
    skip = {"_build", "auto_examples", "generated"}
    return sorted(str(p.relative_to(_DOCS)) for p in _DOCS.rglob("*.rst")
                  if not skip & set(p.parts) and ">>>" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", _doc_pages())
def test_documentation_examples_run_as_written(page):
    with np.printoptions(**_DEFAULT_PRINT_OPTIONS):
        np.random.seed(0)
        result = doctest.testfile(str(_DOCS / page), module_relative=False, globs={"np": np, "sigrs": sigrs},
                                  optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False,
                                  verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in docs/{page}"

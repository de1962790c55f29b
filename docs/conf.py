"""Sphinx configuration of the sigrs documentation (built by scripts/docs.sh).

The build is offline: no intersphinx (nothing but package registries is
reachable where it runs), so references to NumPy, torch, dask and
scikit-learn types cannot resolve and are listed in ``nitpick_ignore_regex``
below instead of turning nitpicky mode off. The gallery runs at build time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The package is imported from the source tree (with its compiled
# _native module built in place by maturin develop), or from whatever
# environment the build runs in when that already has sigrs installed.
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(HERE / "_ext"))

# Plots are drawn off screen; fixed print options make every printed number
# in the gallery the same from one build to the next.
os.environ.setdefault("MPLBACKEND", "Agg")

import sigrs  # noqa: E402

project = "sigrs"
author = "the sigrs developers"
copyright = "the sigrs developers"
release = sigrs.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    # The docstrings are Google style ("Args:", "Returns:"); napoleon reads
    # that and NumPy style (numpydoc's sections) alike, so modules written
    # either way render as parameter lists.
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
    "native_stubs",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]

def _write_worked_examples(app):
    """The conventions page's tables, computed by this sigrs now."""
    import conventions_tables

    conventions_tables.write(HERE / "_generated")


def setup(app):
    app.connect("builder-inited", _write_worked_examples)

default_role = "code"
nitpicky = True
# Types from libraries whose inventories would need the network
# (intersphinx): they are named in signatures and docstrings but cannot be
# linked offline. Everything of sigrs's own must resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|torch|dask|da|sklearn|pandas|distributed|collections\.abc|typing)(\..*)?"),
    (r"py:.*", r"(Any|Optional|Union|Sequence|Callable|Iterable|Iterator|Tuple|List|Dict|NamedTuple|ABC)"),
    (r"py:.*", r"(int|float|bool|str|tuple|list|dict|object|None|type|bytes|complex|slice|callable)"),
    (r"py:.*", r"(ndarray|array_like|array-like|Tensor|NDArray|Array|Module|optional|default.*|of|or)"),
    (r"py:.*", r"(ValueError|TypeError|MemoryError|OverflowError|RuntimeError|ImportError|Exception)"),
    (r"py:.*", r"(nn\.Module|sigrs\._options\..*|.*Options)"),
]

autosummary_generate = True
autosummary_imported_members = False
# No "show-inheritance": the built-in static kernels and the streams derive
# from private helper classes, which would be named but have no page.
autodoc_default_options = {"members": True}
autodoc_member_order = "bysource"
# Every parameter is `Any` (NumPy or torch, checked at run time), so the
# annotations say nothing the parameter lists do not; leave them out.
autodoc_typehints = "none"
autodoc_class_signature = "separated"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Parameters as a plain list: with ":param type name:" fields Sphinx would try
# to link every word of a free-text type ("array-like of shape (n, d)").
napoleon_use_param = False
napoleon_custom_sections = [("Example", "example"), ("Examples", "examples")]

html_theme = "pydata_sphinx_theme"
html_title = f"sigrs {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "conventions": []}
html_show_sourcelink = False

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"/data/",
    "download_all_examples": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib", "gallery_reset.reset_state"),
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "min_reported_time": 1,
    # link to sigrs's API pages from the code of every example
    "doc_module": ("sigrs",),
    "reference_url": {"sigrs": None},
    "backreferences_dir": None,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
}

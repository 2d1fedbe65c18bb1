"""Sphinx configuration for the sktransfer documentation (builds offline)."""

import os

# Examples and doctests run single-threaded: fast, deterministic timings.
os.environ["OMP_NUM_THREADS"] = "1"

import sktransfer  # noqa: E402

# -- Project information ------------------------------------------------------

project = "sktransfer"
author = "The sktransfer developers"
copyright = "The sktransfer developers"
version = sktransfer.__version__
release = sktransfer.__version__

# -- General configuration ----------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "literal"

# autodoc / autosummary
autosummary_generate = True
autodoc_typehints = "none"

# numpydoc
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- HTML output --------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sktransfer {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []

# -- sphinx-gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}


# -- autodoc: skip scikit-learn's generated metadata-routing setters ----------
# ``set_fit_request``, ``set_partial_fit_request``, ``set_score_request``... are
# created by scikit-learn for every estimator method with extra parameters;
# their docstrings point into scikit-learn's own glossary, which this site does
# not have (sphinx -W would fail on those references).


def _skip_metadata_request_setters(app, what, name, obj, skip, options):
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_setters)

"""Sphinx configuration of the dendrinet documentation.

Build (from the repository root; the command of ``.ci/run``, README.md and the quick
start)::

    .venv/bin/pip install -q -e ".[docs]"
    .venv/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html

The key tables of the model and protocol files, the command-line reference and the
API pages are generated from the code at build time (``docs/_ext/dendrinet_docs.py``,
autodoc); the gallery runs the scripts in ``examples/`` (sphinx-gallery).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

os.environ.setdefault("MPLBACKEND", "agg")

import dendrinet  # noqa: E402

project = "dendrinet"
author = "the dendrinet developers"
copyright = "dendrinet developers; MIT licence"  # noqa: A001
release = version = dendrinet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "dendrinet_docs",
]

# no smart dashes: option names such as --resume must stay as typed
smartquotes_action = "qe"
# literal blocks without a language (layouts, usage lines in docstrings) stay plain text
highlight_language = "none"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "**.md5", "**.codeobj.json"]
# docs/design.md is rendered as a page ("Design specification") by MyST
myst_heading_anchors = 3

# -- autodoc / autosummary / numpydoc ----------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"          # signatures as written; types are in the docstrings
autodoc_preserve_defaults = True
autoclass_content = "class"
numpydoc_show_class_members = False  # members are documented by autodoc itself
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()  # no style validation (the code is edited elsewhere)
numpydoc_xref_param_type = False
nitpicky = False

# -- HTML --------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"dendrinet {release}"
html_static_path = ["_static"]
html_css_files = ["dendrinet.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # one line of top links at 1280 px: they start beside the title, with the short labels
    # of index.rst's toctrees; the rest under "More"; search as an icon (or Ctrl+K)
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "navbar_persistent": ["search-button"],
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
# The left sidebar lists a section's subpages: only "api" has any (its modules). Elsewhere
# it would be an empty "Section Navigation" column; on the gallery's pages the code needs
# the width (the gallery's index lists the examples).
html_sidebars = {**{page.stem: [] for pattern in ("*.rst", "*.md")
                    for page in HERE.glob(pattern) if page.stem != "api"},
                 "auto_examples/*": []}
html_show_sourcelink = True
html_last_updated_fmt = None

# -- sphinx-gallery ------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # run every script but paper_figures.py, which needs finished training runs; the
    # tutorials get short settings from gallery_helpers.reset_argv
    "filename_pattern": r"/(plot_\w+|single_neuron|network_digits|write_your_own_\w+)\.py$",
    "ignore_pattern": r"(paper_figures|__init__)\.py$",
    "within_subsection_order": "gallery_helpers.ExampleOrder",
    "reset_argv": "gallery_helpers.reset_argv",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "download_all_examples": False,
    "write_computation_times": False,   # its page loads scripts from CDNs
    "show_memory": False,
    "min_reported_time": 1,
    "capture_repr": (),
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "promote_jupyter_magic": False,
    "first_notebook_cell": "%matplotlib inline",
}


# -- hooks -------------------------------------------------------------------------------
def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn generates set_<method>_request on every estimator (metadata routing);
    # their docstrings point into scikit-learn's own documentation
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)

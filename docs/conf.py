"""Sphinx configuration of the dendrinet documentation.

Build (from the repository root, with ``pip install -e ".[docs]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

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
    "header_links_before_dropdown": 8,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
# no left sidebar on the pages without subpages
html_sidebars = {page: [] for page in ("index", "quickstart", "train_mnist", "analysis",
                                       "config_files", "formats", "cli", "design")}
html_show_sourcelink = True
html_last_updated_fmt = None

# -- sphinx-gallery ------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # run only these scripts; paper_figures.py needs finished training runs and is left out
    "filename_pattern": r"/(plot_\w+|single_neuron|network_digits)\.py$",
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

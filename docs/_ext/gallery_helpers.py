"""Callables of the sphinx-gallery configuration, named by string in conf.py (so that
Sphinx can pickle the configuration)."""
from __future__ import annotations

import ast
import tempfile
from pathlib import Path

#: the order of the examples in the gallery (file names); others follow, sorted
ORDER = ("single_neuron.py", "network_digits.py", "plot_train_digits.py",
         "plot_spike_analysis.py", "write_your_own_neuron.py", "write_your_own_rule.py",
         "plot_burstprop.py")

_OUT = Path(tempfile.gettempdir()) / "dendrinet-docs-gallery"

#: the short settings the gallery runs the tutorials that train with (the two "write your
#: own" and burstprop), the same as tests/test_tutorials.py: 3 epochs on 1,200 digits
#: learn (15-17 % test error; the plateau-only rule 60 %) in a few seconds each once the
#: models' engines are compiled (a minute or two per tutorial on a fresh cache)
TUTORIAL_ARGS = ("--epochs", "3", "--n-train", "1200")
TUTORIALS = ("write_your_own_neuron.py", "write_your_own_rule.py", "plot_burstprop.py")


def reset_argv(gallery_conf, script_vars) -> list[str]:
    """Command-line arguments of an example run by the gallery: the scripts that write
    files are pointed at a temporary folder instead of the source tree.

    sphinx-gallery runs an example with ``__doc__ = ""``; the scripts that build their
    ``argparse`` description from their docstring get it back here, as ``python
    script.py`` would give it.
    """
    src = Path(script_vars["src_file"])
    namespace = script_vars.get("example_globals")
    if namespace is not None:
        namespace["__doc__"] = ast.get_docstring(ast.parse(src.read_text(encoding="utf-8")),
                                                 clean=False)
    name = src.name
    if name == "single_neuron.py":
        return ["--out", str(_OUT / "single_neuron.png")]
    if name in TUTORIALS:
        return [*TUTORIAL_ARGS, "--out", str(_OUT / src.stem)]
    return []


class ExampleOrder:
    """``within_subsection_order``: the examples in :data:`ORDER`, then the rest."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename: str):
        name = Path(filename).name
        return (ORDER.index(name), name) if name in ORDER else (len(ORDER), name)

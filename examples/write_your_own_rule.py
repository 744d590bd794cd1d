"""
Write your own learning rule
============================

The hidden layers of a dendrinet network learn with a **rule**: a small Numba function
that computes each hidden unit's error at the end of a training example from what the
layer exposes (its plateau potentials, somatic potentials, the output error, ...).
dendrinet then applies the same local update for every rule, ``W += eta P
outer(s_pre, e)`` and ``b += eta P e``. This tutorial

* writes a rule, ``plateau_only``, into ``my_rules.py``,
* tests it in plain Python on a hand-made layer, against numpy,
* names it in a model file (``[learning] rule = "my_rules.py:plateau_only"``),
* trains it and the paper's rule on scikit-learn's 8x8 digits with the same seed, and
  draws both learning curves.

Usage:

.. code-block:: bash

    python examples/write_your_own_rule.py [--epochs 3] [--n-train N] [--out DIR]

The new rule compiles on its own on first use (seconds; the engine's kernels call it
as a first-class function and are compiled once for every rule); Numba caches it beside
the rule file when that folder is writable. Docs: "Write your own dendritic neuron and
learning rule".
"""

# %%
# Options
# -------
# ``--epochs`` and ``--n-train`` make the run small (the tests and this page of the
# documentation use three epochs on 1,200 digits); ``--out`` is the folder for the rule
# file, the model file, the two run folders and the figure.
import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

parser = argparse.ArgumentParser(description="Write your own learning rule (tutorial)")
parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
parser.add_argument("--n-train", type=int, default=None,
                    help="training digits to use (default: all 1,437)")
parser.add_argument("--out", default=None,
                    help="folder for the outputs (default: a new temporary folder)")
args = parser.parse_args()
out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dendrinet-rule-"))
out.mkdir(parents=True, exist_ok=True)
t_begin = time.perf_counter()

# %%
# The rule
# --------
# A rule is ``rule(layer, e)``: it reads the fields of ``layer`` (a
# :data:`~dendrinet.learning.rules.HiddenLayer` namedtuple) and writes ``e``, one
# error per unit of the layer, in 1/ms. The fields are
#
# ============ ===============================================================
# ``index``    which hidden layer (0 = the lowest)
# ``V_f``      mean somatic potential of the forward phase (dimensionless)
# ``alpha_f``  plateau potential of the forward phase, ``sig(mean V_a)``
# ``alpha_t``  plateau potential of the target phase
# ``s_pre``    mean filtered spike trains of the layer below (1/ms)
# ``s_f``      the layer's own mean filtered spike trains (1/ms)
# ``e_out``    the output layer's error of this example (1/ms)
# ``Y``        feedback weights output -> this layer, shape ``(n_out, n)``
# ``phi_max``  maximum rate (1/ms); ``k_B`` basal attenuation (dimensionless)
# ``key``      64-bit number unique to the example and the layer, for
#              ``gaussian(key, j)`` (reproducible normal numbers)
# ============ ===============================================================
#
# The paper's rule (``"segregated-dendrite"``) is
# ``e = (alpha_t - alpha_f) k_B phi_max sig'(V_f)``: the difference between the target
# and forward plateau potentials, times the slope of the somatic rate function.
# ``plateau_only`` keeps the plateau difference and replaces the slope by its largest
# value, ``sig'(0) = 1/4``. That is a reasonable variant to try: the sign and the size
# of the update still come from the apical dendrite alone (the feedback's message), the
# two rules agree for units near ``V_f = 0``, and a unit no longer needs to know the
# slope of its own rate function, which a real dendrite would have to estimate. It is
# the counterpart of the feedback-alignment variants that drop the activation
# derivative. What it gives up: the slope gates each unit's update by how much the unit
# responded to *this* example, and stops saturated units (``|V_f|`` large, ``sig'``
# near 0) from being pushed further. The training below shows whether that matters.
RULES_PY = '''\
"""My learning rules for dendrinet (see dendrinet.learning.rules)."""
from numba import njit


@njit
def plateau_only(layer, e):
    """The segregated-dendrite rule with the somatic slope sig'(V_f) replaced by its
    maximum, 1/4: e = (alpha_t - alpha_f) k_B phi_max / 4."""
    scale = layer.k_B * layer.phi_max * 0.25
    for j in range(e.size):
        e[j] = (layer.alpha_t[j] - layer.alpha_f[j]) * scale
'''
rules_path = out / "my_rules.py"
rules_path.write_text(RULES_PY)
print(f"wrote {rules_path}")

# %%
# Test the rule in plain Python
# -----------------------------
# Call it on a hand-made layer, exactly as the engine will, and compare with numpy.
# (A Numba function runs from Python as it is; ``plateau_only.py_func`` is the plain
# Python version, handy in a debugger.) The shipped rule gives the same errors where
# ``V_f = 0``, a second check.
import importlib.util

from dendrinet.learning.rules import HiddenLayer, segregated_dendrite

spec = importlib.util.spec_from_file_location("my_rules", rules_path)
my_rules = importlib.util.module_from_spec(spec)
spec.loader.exec_module(my_rules)

rng = np.random.default_rng(0)
n, n_out, n_pre = 5, 3, 4
layer = HiddenLayer(index=0, V_f=rng.normal(size=n), alpha_f=rng.uniform(size=n),
                    alpha_t=rng.uniform(size=n), s_pre=rng.uniform(0, 0.1, n_pre),
                    s_f=rng.uniform(0, 0.1, n), e_out=rng.normal(0, 0.01, n_out),
                    Y=rng.normal(size=(n_out, n)), phi_max=0.2, k_B=0.6 / 0.7,
                    key=np.uint64(12345))
e = np.full(n, np.nan)
my_rules.plateau_only(layer, e)
expected = (layer.alpha_t - layer.alpha_f) * layer.k_B * layer.phi_max / 4
np.testing.assert_allclose(e, expected, rtol=1e-12)
e_paper = np.empty(n)
segregated_dendrite(layer._replace(V_f=np.zeros(n)), e_paper)
np.testing.assert_allclose(e_paper, expected, rtol=1e-12)
print(f"plateau_only on a hand-made layer: e = {np.array2string(e, precision=4)} /ms, "
      f"as numpy computes it, and as the paper's rule at V_f = 0")

# %%
# Name it in a model file
# -----------------------
# ``rule = "file.py:function"``, the path relative to the model file. The shipped rules
# are named the same way: ``"segregated-dendrite"`` (the default), ``"noise-feedback"``
# (a control: Gaussian noise scaled to the output error, no direction; shipped model
# ``noise-feedback``) and ``"direct-feedback-alignment"`` (the output error sent to
# every hidden layer through its random feedback weights; shipped model
# ``direct-feedback-alignment``, two hidden layers). A rule that does not compile, or
# that leaves a unit's error unset, is refused with one message naming the rule before
# training starts.
MODEL_TOML = '''\
extends = "guerguiev2017-1hidden"

[model]
name = "plateau-only"
description = "guerguiev2017-1hidden with the plateau difference alone as hidden error"

[learning]
rule = "my_rules.py:plateau_only"
'''
model_path = out / "plateau-only.toml"
model_path.write_text(MODEL_TOML)

from dendrinet.config import load_model

model = load_model(model_path)
print(f"wrote {model_path}: rule {model.learning.rule}")

# %%
# Train both rules
# ----------------
# Same network, protocol, data and seed: the two runs start from the same weights and
# see the digits in the same order, so they differ only by the rule. The new rule's
# engine compiles on first use; the standard model runs on the package's own kernels.
#
# A rule file is Python code, and a model file is data that people share: dendrinet runs
# the rule file a model names only once you name that file yourself,
# :func:`dendrinet.allow_rule_file` here, ``--rule-file`` on the command line:
# ``dendrinet train --model plateau-only.toml --rule-file my_rules.py --dataset digits
# --epochs 3 --out runs/p``. Without it, training stops before anything runs, with one
# message saying what to add.
import dendrinet
from dendrinet.training import train

dendrinet.allow_rule_file(rules_path)

runs = {"plateau_only": (model_path, out / "run-plateau-only"),
        "segregated-dendrite": ("guerguiev2017-1hidden", out / "run-segregated-dendrite")}
for name, (model_file, run_dir) in runs.items():
    t0 = time.perf_counter()
    summary = train(model_file, "paper-timing", "digits", run_dir, epochs=args.epochs,
                    seed=0, n_train=args.n_train, progress="lines", n_spike_samples=0,
                    force=True)  # replace the runs of an earlier call in this --out
    print(f"{name}: trained in {time.perf_counter() - t0:.1f} s (compilation included)")

# %%
# Learning curves
# ---------------
# :func:`dendrinet.analysis.learning_curves` reads each run folder's ``summary.json``:
# test error after every epoch (solid) and the training error scored online during the
# epoch (dashed).
#
# It matters: on all the digits, after 3 epochs, the plateau-only rule was measured at
# 49 % test error against 21 % for the paper's rule (seed 0; a smaller hidden learning
# rate does not close the gap). Without the slope every unit follows its feedback on
# every example alike, whether it responded or not, and the hidden units do not
# specialise; the slope is part of what makes the plateau difference a useful error.
from dendrinet import analysis

curves = {name: analysis.learning_curves(run_dir) for name, (_, run_dir) in runs.items()}
for name, c in curves.items():
    print(f"test error {name}: {float(c.test_error[-1]):.2f} % after epoch {c.epoch[-1]} "
          f"(per epoch: {', '.join(f'{float(v):.2f}' for v in c.test_error)} %)")
fig, ax = plt.subplots(figsize=(8, 5.5))
analysis.plot_learning_curves(list(curves.values()), ax=ax, labels=list(curves))
ax.set_ylim(0, 100)
ax.axhline(90, color="0.5", lw=0.8, ls=":")
ax.text(ax.get_xlim()[0], 90, " chance (90 %)", va="bottom", fontsize=8, color="0.4")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
ax.set_xlabel("epoch")
ax.set_ylabel("error on the digits (%)")
ax.set_title(f"digits, {curves['plateau_only'].epoch[-1]} epoch(s), seed 0")
figure = out / "rules_learning_curves.png"
fig.tight_layout()
fig.savefig(figure, dpi=110)
# the figure stays open: the documentation's gallery shows the open figures
print(f"figure written to {figure}")
print(f"total time {time.perf_counter() - t_begin:.1f} s; outputs in {out}")

"""
Write your own dendritic neuron
===============================

A model file may change the neurons themselves: its ``[equations]`` table holds Brian2
equation text that dendrinet adds to the standard pyramidal neuron of Guerguiev et al.
(2017). This tutorial writes such a model, a hidden neuron with

* a saturating apical dendrite, ``V_a = 2 tanh(V_a_lin / 2)``,
* an extra somatic current driven by the apical potential, ``0.02 V_a (2 - V) / ms``,
* spike-frequency adaptation: a new state variable ``u`` that follows the somatic
  potential with a time constant of 100 ms and pulls it back, ``-u / ms``,

prints the full equations, checks that the fast (Numba) engine, which compiles its
update from these very equations, gives the potentials Brian2 gives (same spikes, to
1e-6), trains the network on scikit-learn's 8x8 digits and draws the new variables
over one presentation. It also shows what a mistake in an equation looks like.

Usage:

.. code-block:: bash

    python examples/write_your_own_neuron.py [--epochs 3] [--n-train N] [--out DIR]

The first run compiles the model's neuron part (seconds, printed as "compiling the
neuron of ..."); later runs load it from the cache (``~/.cache/dendrinet/generated``
or ``$DENDRINET_CACHE/generated``). Docs: "Write your own dendritic neuron and
learning rule".
"""

# %%
# Options
# -------
# ``--epochs`` and ``--n-train`` make the run small (the tests and this page of the
# documentation use three epochs on 1,200 digits); ``--out`` is the folder for the model
# file, the run folder and the figure.
import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

parser = argparse.ArgumentParser(description="Write your own dendritic neuron (tutorial)")
parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
parser.add_argument("--n-train", type=int, default=None,
                    help="training digits to use (default: all 1,437)")
parser.add_argument("--out", default=None,
                    help="folder for the outputs (default: a new temporary folder)")
args = parser.parse_args()
out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dendrinet-neuron-"))
out.mkdir(parents=True, exist_ok=True)
t_begin = time.perf_counter()

# %%
# (a) The model file
# ------------------
# A model that ``extends`` a shipped one states only what differs. Every entry of
# ``[equations]`` is Brian2 equation text, with dimensionless potentials (``V`` soma,
# ``V_b`` basal, ``V_a`` apical) and time in ms:
#
# * ``apical`` is ``V_a`` as a function of ``V_a_lin``, the linear sum of the filtered
#   feedback spikes (default ``"V_a_lin"``);
# * ``hidden_soma`` is added to ``dV/dt`` of the hidden soma, so it has unit 1/ms: write
#   ``.../ms`` (or multiply by a conductance such as ``g_B``);
# * ``hidden_extra`` adds equation lines: a state variable with its differential
#   equation (it starts at 0 and is reset with the neuron) or a subexpression;
# * ``[equations.parameters]`` declares the new constants, with their units.
#
# New names must not be taken already: not the model's own (``V``, ``V_b``, ``V_a``,
# ``g_L``, ``tau_L``, ...; ``all_equations`` below lists them). (``w`` is free: the
# synapses' weight is called ``weight``.)
#
# ``g_A`` is 0 in the base model: the apical dendrite reaches the soma only through the
# new ``hidden_soma`` term here.
MODEL_TOML = '''\
extends = "guerguiev2017-1hidden"

[model]
name = "adapting-apical-tanh"
description = "Saturating apical dendrite, apical drive of the soma, adaptation variable u"

[equations]
apical = "2*tanh(V_a_lin/2)"
hidden_soma = "0.02*V_a*(2 - V)/ms - u/ms"
hidden_extra = "du/dt = (a_u*V - u)/tau_u : 1"

[equations.parameters]
a_u = 0.1
tau_u = "100 ms"
'''
model_path = out / "adapting-apical-tanh.toml"
model_path.write_text(MODEL_TOML)

from dendrinet.config import load_model

model = load_model(model_path)
print(f"wrote {model_path}: model {model.name!r}, layers {model.layer_sizes(64)} on digits")

# %%
# (b) The equations both engines run
# ----------------------------------
# :func:`~dendrinet.model.equations.all_equations` prints the full equations
# of every population: your terms are in the hidden neuron's ``dV/dt``, ``V_a`` and the
# last line. They are the one definition of the model: the Brian2 engine runs them as
# they are, and the fast engine generates its per-step update from them (Brian2 parses
# them, checks their units and integrates them with exponential Euler; dendrinet turns
# that update into a small Numba module, compiles it once, in seconds, and caches it).
# ``neuron_source(model)`` (:mod:`dendrinet.backends.numba.model_part`) prints the
# generated Numba code.
from dendrinet.model.equations import all_equations

print(all_equations(model))

# %%
# What a mistake looks like
# -------------------------
# Every mistake in the equations is one :class:`~dendrinet.errors.DendrinetError`
# naming the model file, the equation and the fix, raised before anything is compiled
# or trained (``dendrinet train`` prints it as one line); a unit mistake is a
# ``ConfigError`` already when the file is read, naming the entry in your units.
# Here the somatic term forgets its ``/ms``: a potential is not a rate.
from dendrinet.backends.numba.model_part import neuron_source
from dendrinet.errors import DendrinetError

bad_path = out / "forgot-per-ms.toml"
bad_path.write_text(MODEL_TOML.replace('"0.02*V_a*(2 - V)/ms - u/ms"',
                                       '"0.02*V_a*(2 - V) - u/ms"'))
try:
    neuron_source(load_model(bad_path))  # what training does first
except DendrinetError as error:
    print(f"the bad model is refused:\n  {type(error).__name__}: {error}")
else:
    raise SystemExit("the model without /ms should have been refused")

# %%
# (c) Same spikes, same potentials: Brian2 and the fast engine
# ------------------------------------------------------------
# The two engines draw different random numbers, so their spikes differ. To compare
# their equations, run one digit's forward and target phases in Brian2, then replay
# Brian2's spike trains through the fast engine's step, with the model's own neuron
# part (:func:`dendrinet.backends.numba.engine.replay`): every potential and the new
# variable ``u`` must agree to rounding.
from dendrinet.backends.brian2.network import DendriticNetwork
from dendrinet.backends.numba.engine import replay
from dendrinet.config import load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.config.schedule import FORWARD, training_schedule
from dendrinet.model.weights import initial_parameters

TOLERANCE = 1e-6
digits = load_dataset("digits", n_train=args.n_train)
protocol = load_protocol("paper-timing")
rng = np.random.default_rng(0)
params = initial_parameters(model, digits.n_inputs, rng)
example = 0
schedule = training_schedule(protocol, [example], digits.y_train[[example]], rng)
network = DendriticNetwork(model, params, digits.n_inputs, protocol.dt,
                           record_traces=("V", "V_b", "V_a", "u"))
brian = network.run(schedule, digits.X_train, seed=1)
t0 = time.perf_counter()
fast = replay(model, params, schedule, brian.spikes)
print(f"replay (compiled or loaded in) {time.perf_counter() - t0:.1f} s")

differences = {}
for population in ("hidden_0", "output"):
    for var, trace in brian.traces[population].items():
        diff = float(np.abs(fast.traces[population][var] - trace).max())
        differences[var] = max(differences.get(var, 0.0), diff)
print(f"digit {digits.y_train[example]}, {schedule.total_steps} steps, "
      f"{len(brian.spikes['hidden_0'][0])} hidden spikes; fast engine against Brian2:")
for var in ("V", "V_a", "u"):
    print(f"max difference {var} = {differences[var]:.3g}")
assert all(d < TOLERANCE for d in differences.values()), differences

# %%
# (d) Train it
# ------------
# :func:`~dendrinet.training.trainer.train` with the default engine, ``"fast"``: the first call
# prints "compiling the neuron of ..." and compiles this model's neuron part (seconds;
# the engine's kernels are compiled once for every model); any later run of the same
# equations, whatever their parameter values, loads it from the cache. The command line does the same:
# ``dendrinet train --model adapting-apical-tanh.toml --dataset digits --epochs 3``.
# An edited neuron costs somewhat more per step than the standard one (its update
# evaluates ``tanh`` and ``exp`` per unit and step); BENCHMARKS.md has measured numbers.
from dendrinet.training import train

t0 = time.perf_counter()
summary = train(model_path, "paper-timing", "digits", out / "run", epochs=args.epochs,
                seed=0, n_train=args.n_train, progress="lines", n_spike_samples=0,
                force=True)  # force: a run of this script in the same --out is replaced
print(f"trained on {summary.n_train} digits for {summary.epochs_done} epoch(s) in "
      f"{time.perf_counter() - t0:.1f} s (compilation included)")
print(f"test error: {100 * summary.final_test_error:.2f} % "
      f"({summary.n_test} test digits; chance is 90 %)")

# %%
# (e) The new variables over one presentation
# -------------------------------------------
# ``V``, ``V_a`` and ``u`` of a few hidden neurons during the replayed presentation. In
# the target phase the teaching input drives the output layer, whose spikes reach the
# apical dendrites through the feedback weights: ``V_a`` changes, and with it (through
# ``hidden_soma``) the soma; ``u`` follows ``V`` slowly (100 ms). The hatched parts are
# the averaging windows of the plateau potentials.
t = np.arange(schedule.total_steps) * schedule.dt
hidden = fast.traces["hidden_0"]
neurons = np.argsort(hidden["V_a"][-1])[[0, len(hidden["V_a"][-1]) // 2, -1]]
fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
labels = {"V": "soma $V$", "V_a": "apical $V_a$", "u": "adaptation $u$"}
for ax, var in zip(axes, ("V", "V_a", "u")):
    for p in range(len(schedule)):
        t_start, t_stop = schedule.t_start[p], schedule.t_stop[p]
        t_window = t_start + schedule.settle[p] * schedule.dt
        forward = schedule.phase[p] == FORWARD
        ax.axvspan(t_start, t_stop, color="#dbe9f6" if forward else "#fde3cc", zorder=0)
        ax.axvspan(t_window, t_stop, facecolor="none", hatch="//", edgecolor="0.8", lw=0,
                   zorder=1)
        if var == "V":
            ax.text((t_start + t_stop) / 2, 1.02, "forward phase" if forward else
                    f"target phase (label {schedule.label[p]})", ha="center", va="bottom",
                    transform=ax.get_xaxis_transform(), fontsize=9)
    for n in neurons:
        ax.plot(t, hidden[var][:, n], lw=1.2, label=f"hidden neuron {n}")
    ax.set_ylabel(f"{labels[var]}\n(dimensionless)")
axes[-1].legend(loc="upper left", fontsize=8, ncol=3, framealpha=0.9)
axes[-1].set_xlabel("time (ms)")
axes[-1].set_xlim(0, t[-1] + schedule.dt)
fig.suptitle(f"Model {model.name!r}: one digit, forward and target phase (fast engine, "
             f"Brian2's spikes)", fontsize=10)
fig.tight_layout()
figure = out / "neuron_traces.png"
fig.savefig(figure, dpi=110)
# the figure stays open: the documentation's gallery shows the open figures
print(f"figure written to {figure}")
print(f"total time {time.perf_counter() - t_begin:.1f} s; outputs in {out}")

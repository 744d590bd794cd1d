"""
Bursts that learn: burst-dependent plasticity
=============================================

Payeur et al. (Nature Neuroscience 2021, "burstprop") proposed that a pyramidal neuron
sends two messages in one spike train: the rate of its **events** (a spike after a
pause) carries its somatic, feedforward drive, and the share of events that become
**bursts** (a second spike soon after) carries its apical, feedback drive. Learning then
needs no separate error: a synapse grows when its neuron bursts more than it usually
does, ``dW = eta (B - P E) E_pre``.

The shipped model ``payeur2021-burstprop`` puts that neuron and rule into the
segregated-dendrite network (784-500-10, or 64-500-10 on the 8x8 digits). This tutorial

* shows the neuron: spikes of one digit's forward and target phases with events and
  bursts marked, and the burst probability set by the apical potential;
* shows how synapses that depress and facilitate would route its events and bursts;
* trains it on the digits beside the 2017 rule and a control whose hidden layer does
  not learn, and draws the learning curves.

Usage:

.. code-block:: bash

    python examples/plot_burstprop.py [--epochs 3] [--n-train N] [--out DIR]

The model's neuron part is generated from its equations and compiled on first use
(seconds; cached afterwards). Docs: "Write your own dendritic neuron and learning rule";
what differs from the paper is stated in the model file (``dendrinet models``).
"""

# %%
# Options
# -------
# ``--epochs`` and ``--n-train`` make the training small (the tests and this page use
# three epochs on 1,200 digits); ``--out`` is the folder for the run folders and figures.
import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

parser = argparse.ArgumentParser(description="Bursts that learn (tutorial)")
parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
parser.add_argument("--n-train", type=int, default=1200,
                    help="training digits to use (default 1,200 of 1,437)")
parser.add_argument("--out", default=None,
                    help="folder for the outputs (default: a new temporary folder)")
args = parser.parse_args()
out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dendrinet-burstprop-"))
out.mkdir(parents=True, exist_ok=True)
t_begin = time.perf_counter()

# %%
# The model
# ---------
# The neuron is a model file: its own state variables (``E`` and ``B``, the event and
# burst rates as traces in Hz; the time since the last spike; a countdown to a burst's
# second spike), code run on each spike and a spike condition. After an event, with
# probability ``sig(V_a)``, a second spike follows 5-15 ms later. The rule reads the
# window means of ``E`` and ``B`` (rows 0 and 1 of ``layer.X_t``).
from dendrinet.config import load_model, load_protocol
from dendrinet.datasets import load_dataset

model = load_model("payeur2021-burstprop")
protocol = load_protocol("guerguiev2017")
digits = load_dataset("digits")
print(model.description)
print(f"[equations] hidden_extra:\n{model.equations.hidden_extra.strip()}")
print(f"[equations] hidden_on_spike:\n{model.equations.hidden_on_spike}")
print(f"[equations] hidden_spike_condition: {model.equations.hidden_spike_condition}")

# %%
# Events and bursts of one digit
# ------------------------------
# A forward phase, then a target phase in which the teaching input drives the labelled
# output neuron; its spikes reach the hidden neurons' apical dendrites through the
# feedback weights, which changes how many of their events burst. The weights here are
# the initial ones; a bias lowered by 5 keeps the hidden rates low, so that bursts stand out.
# :func:`dendrinet.analysis.bursts.spike_kinds` labels each spike as an event that stays
# single, an event that starts a burst, or a later spike of a burst.
from dendrinet import analysis
from dendrinet.backends import make_engine
from dendrinet.config.schedule import training_schedule
from dendrinet.model.weights import initial_parameters

rng = np.random.default_rng(0)
params = initial_parameters(model, digits.n_inputs, rng)
params.b[0][:] -= 5.0
ids = np.array([0] * 20)  # one digit twenty times: a statistic over many events
schedule = training_schedule(protocol, ids, digits.y_train[ids], rng)
result = make_engine("fast", model, protocol, params, seed=0).present(digits.X_train,
                                                                       schedule)
times, units = result.spikes["hidden_0"]
kinds = analysis.bursts.spike_kinds(times, units)

fig, (ax_raster, ax_p) = plt.subplots(1, 2, figsize=(11, 4.5),
                                      gridspec_kw={"width_ratios": [2, 1]})
end = float(schedule.start[2] * schedule.dt)  # the first example's two phases
shown = (times < end) & (units < 40)
styles = {analysis.bursts.SINGLE: ("0.3", "single event"),
          analysis.bursts.BURST_START: ("C3", "event starting a burst"),
          analysis.bursts.IN_BURST: ("C1", "second spike of a burst")}
for kind, (color, label) in styles.items():
    sel = shown & (kinds == kind)
    ax_raster.scatter(times[sel], units[sel], s=7, marker="|", color=color, label=label)
ax_raster.axvline(schedule.start[1] * schedule.dt, color="k", lw=0.8)
ax_raster.text(schedule.start[1] * schedule.dt, 38, " target phase", fontsize=8)
ax_raster.set_xlabel("time (ms)")
ax_raster.set_ylabel("hidden neuron")
ax_raster.set_title(f"hidden neurons 0-39, digit {digits.y_train[0]}")
ax_raster.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)

# %%
# The share of events that burst, against the apical potential at the event: the
# neuron's burst probability is ``sig(V_a)``. Whether an event scheduled a second spike
# is in the neuron's ``countdown`` one step later (positive: a burst is due), so the
# share is read from the neuron's own decisions; from spikes alone, a random spike that
# happens to follow within 16 ms would count as a burst too.
events = kinds != analysis.bursts.IN_BURST
events &= times < schedule.dt * (schedule.start[-1] + schedule.n_steps[-1] - 1)
steps = np.round(times[events] / schedule.dt).astype(int)
traces = result.traces["hidden_0"]
V_a = traces["V_a"][steps, units[events]]
burst = traces["countdown"][steps + 1, units[events]] > 0
edges = np.linspace(-6, 6, 13)  # V_a spreads far wider; sig(V_a) is 0 or 1 beyond
centre = 0.5 * (edges[1:] + edges[:-1])
which = np.searchsorted(edges, V_a, side="right") - 1
share = np.array([burst[which == k].mean() for k in range(centre.size)])
grid = np.linspace(edges[0], edges[-1], 100)
ax_p.plot(grid, 1 / (1 + np.exp(-grid)), color="C0", label="sig(V_a)")
ax_p.plot(centre, share, "o", color="C3", label="measured, events in 1-wide bins")
ax_p.set_xlabel("apical potential V_a at the event")
ax_p.set_ylabel("share of events that burst")
ax_p.set_ylim(0, 1)
ax_p.legend(fontsize=7, loc="upper left")
fig.tight_layout()
fig.savefig(out / "burstprop_neuron.png", dpi=110)
inside = (which >= 0) & (which < centre.size)
print(f"V_a at events: 5-95 % range {np.percentile(V_a, 5):.1f} to "
      f"{np.percentile(V_a, 95):.1f}, {100 * inside.mean():.0f} % within +-6 (plotted)")
print(f"{int(events.sum())} events, {int(burst.sum())} bursts; share of bursts for V_a "
      f"in bins from -6 to 6: {np.array2string(share, precision=2)} (sig(V_a) at the "
      f"bins' centres: {np.array2string(1 / (1 + np.exp(-centre)), precision=2)})")

# %%
# Routing events up and bursts down
# ---------------------------------
# Payeur et al. send the two messages to different places with short-term plasticity
# (a model's ``[synapses]`` table): a burst's second spike finds a *depressing*
# synapse's resources used, and a *facilitating* synapse primed by the spike before.
# :func:`dendrinet.analysis.transmitted_share` runs both kinds of synapse on the hidden
# spikes above: the share of its weight each spike would transmit, by kind of spike.
# (In dendrinet's network the feedback comes from the output layer, whose neurons do
# not burst; ``benchmarks/models/payeur2021-burstprop-routed.toml`` trains with both.)
forward = analysis.transmitted_share(times, units, U=0.9, tau_D=20.0)
backward = analysis.transmitted_share(times, units, U=0.1, tau_F=100.0)
fig, ax = plt.subplots(figsize=(6.5, 3.6))
width = 0.38
routes = (("depressing: U 0.9, tau_D 20 ms", forward, "C0"),
          ("facilitating: U 0.1, tau_F 100 ms", backward, "C2"))
means = {}
for i, (label, shares, color) in enumerate(routes):
    means[label] = np.array([shares[kinds == kind].mean() for kind in styles])
    ax.bar(np.arange(3) + (i - 0.5) * width, means[label], width, color=color, label=label)
ax.set_xticks(range(3), [label for _, label in styles.values()], fontsize=8)
ax.axhline(1.0, color="k", lw=0.6)
ax.set_ylabel("share of the weight transmitted")
ax.legend(fontsize=7, loc="upper left")
fig.tight_layout()
fig.savefig(out / "burstprop_routing.png", dpi=110)
print("mean share transmitted (single events, burst starts, second spikes): "
      + "; ".join(f"{label} {np.array2string(m, precision=2)}" for label, m in means.items()))

# %%
# Train it on the digits
# ----------------------
# The same network, protocol, data and seed with three rules: burstprop, the 2017
# segregated-dendrite rule (``guerguiev2017-1hidden``), and burstprop's model with the
# hidden layer frozen (``[learning] train_hidden = false``: only the output layer
# learns). If the bursts carry the feedback's message, burstprop beats the control.
from dendrinet.training import train

frozen = out / "burstprop-frozen-hidden.toml"
frozen.write_text('extends = "payeur2021-burstprop"\n[model]\n'
                  'name = "burstprop-frozen-hidden"\n[learning]\ntrain_hidden = false\n')
runs = {"burstprop": "payeur2021-burstprop",
        "segregated-dendrite (2017)": "guerguiev2017-1hidden",
        "hidden layer frozen": frozen}
curves = {}
for name, model_file in runs.items():
    t0 = time.perf_counter()
    run_dir = out / f"run-{name.split()[0]}"
    train(model_file, "guerguiev2017", "digits", run_dir, epochs=args.epochs, seed=0,
          n_train=args.n_train, progress="lines", n_spike_samples=0, force=True)
    curves[name] = analysis.learning_curves(run_dir)
    print(f"{name}: trained in {time.perf_counter() - t0:.1f} s (compilation included)")

# %%
# Learning curves
# ---------------
# Test error after every epoch (solid) and the training error scored online during the
# epoch (dashed). Measured on all 1,437 training digits, 10 epochs, seeds 0-2
# (BENCHMARKS.md, "Burst-dependent plasticity"): burstprop learns where the frozen
# hidden layer cannot, and stays behind the 2017 rule, whose error is the plateau
# difference of each example without the noise of single bursts.
for name, c in curves.items():
    print(f"test error {name}: {float(c.test_error[-1]):.2f} %, training error "
          f"{float(c.train_error[-1]):.2f} % in epoch {c.epoch[-1]}")
fig, ax = plt.subplots(figsize=(8, 5.5))
analysis.plot_learning_curves(list(curves.values()), ax=ax, labels=list(curves))
ax.set_ylim(0, 100)
ax.axhline(90, color="0.5", lw=0.8, ls=":")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
ax.set_xlabel("epoch")
ax.set_ylabel("error on the digits (%)")
ax.set_title("digits, protocol guerguiev2017, seed 0")
fig.tight_layout()
fig.savefig(out / "burstprop_learning_curves.png", dpi=110)
# the figures stay open: the documentation's gallery shows the open figures
print(f"figures written to {out}; total time {time.perf_counter() - t_begin:.1f} s")

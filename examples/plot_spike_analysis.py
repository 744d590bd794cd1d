"""
Record spikes to a store and analyse them
=========================================

Presents four digits to an untrained 64-500-10 network with the fast engine, each with a
forward phase and a target phase (the teaching input drives the labelled output
neuron), writes every spike to an HDF5 spike store, and analyses the store as one would
in a Python session: rasters, firing rates per presentation, PSTH, inter-spike
intervals, variability, and the export to Neo.

From the command line the recording is::

    dendrinet simulate --engine fast --dataset digits --n-examples 4 --out run.h5
"""

# %%
# Simulate and write a spike store
# --------------------------------
# :func:`~dendrinet.config.schedule.training_schedule` lays out a forward and a target phase
# per example; the engine presents them with fixed weights and returns every spike.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dendrinet import analysis
from dendrinet.backends import make_engine
from dendrinet.config import load_model, load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.config.schedule import training_schedule
from dendrinet.store import SpikeStore
from dendrinet.model.weights import initial_parameters

model = load_model("guerguiev2017-1hidden")
protocol = load_protocol("paper-timing")
digits = load_dataset("digits")
rng = np.random.default_rng(0)
params = initial_parameters(model, digits.n_inputs, rng)
ids = np.arange(4)
schedule = training_schedule(protocol, ids, digits.y_train[ids], rng)

engine = make_engine("fast", model, protocol, params, seed=0)
result = engine.present(digits.X_train, schedule)
path = Path(tempfile.mkdtemp(prefix="dendrinet-gallery-")) / "run.h5"
result.write_store(path, {"model": model.name, "dataset": "digits",
                          "example_ids": ids.tolist(), "seed": 0})

# %%
# Open the store
# --------------
# A :class:`~dendrinet.store.SpikeStore` opened for reading; its presentation table has
# one row per phase.
store = SpikeStore(path)
print("populations:", {name: store.n_nodes(name) for name in store.populations})
print("spikes:", {name: store.n_spikes(name) for name in store.populations})
print(f"recording: {store.t_stop:g} ms, dt = {store.dt:g} ms")
pres = store.presentations
for row in range(store.n_presentations):
    print(f"  {row}: example {pres['example_id'][row]}, label {pres['label'][row]}, "
          f"{pres['phase'][row]:>7}, {pres['t_start'][row]:6.0f}-{pres['t_stop'][row]:.0f} ms")

# %%
# Rasters
# -------
# The output layer follows the teaching input in each target phase: the labelled
# neuron fires at a high rate, the others fall silent.
fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                         gridspec_kw={"height_ratios": [3, 1]})
for ax, name in zip(axes, ("hidden_0", "output")):
    times_ms, node_ids = store.spikes(name)
    analysis.plot_raster(times_ms, node_ids, pres if name == "hidden_0" else None, ax=ax,
                         marker_size=1 if name == "hidden_0" else 6)
    ax.set_title(name, loc="left", fontsize="medium")
fig.tight_layout()
plt.show()

# %%
# Firing rates per presentation
# -----------------------------
# One row per presentation, one column per output neuron, grouped by label and phase.
rates = analysis.rates_by_presentation(store, "output")
analysis.plot_rate_heatmap(rates, labels=pres["label"], phases=pres["phase"])
plt.show()

# %%
# PSTH and inter-spike intervals of the hidden layer
# --------------------------------------------------
fig, (ax_psth, ax_isi) = plt.subplots(1, 2, figsize=(11, 3.8))
rate, edges = analysis.psth(store, "hidden_0", bin_ms=5)
analysis.plot_psth(rate, edges, ax=ax_psth)
counts, isi_edges = analysis.isi_histogram(store, "hidden_0", bin_ms=2, max_ms=100)
analysis.plot_isi_histogram(counts, isi_edges, ax=ax_isi)
fig.tight_layout()
plt.show()

# %%
# Summary statistics
# ------------------
# Every statistic returns a :mod:`quantities` array.
hidden_rates = analysis.mean_firing_rate(store, "hidden_0")
cv = analysis.cv(store, "hidden_0")
print(f"hidden rate: mean {hidden_rates.mean():.1f}, s.d. {hidden_rates.std():.1f}")
print(f"hidden CV of the intervals: median {np.nanmedian(cv.magnitude):.2f}")
print(f"hidden Fano factor (50 ms bins): median "
      f"{np.nanmedian(analysis.fano_factor(store, 'hidden_0', bin_ms=50).magnitude):.2f}")
print(f"hidden synchrony (5 ms bins): {float(analysis.synchrony(store, 'hidden_0')):.3f}")

# %%
# Export to Neo
# -------------
# One ``neo.SpikeTrain`` per neuron (times in s), here for the windows of the first
# example's forward and target phases; Elephant and other Neo tools take them directly.
label = int(pres["label"][0])
for row in (0, 1):
    trains = analysis.to_neo(store, "output", presentation=row)
    train = trains[label]
    print(f"{pres['phase'][row]}: {len(trains)} trains; {train.name} fired {len(train)} "
          f"spikes in [{train.t_start}, {train.t_stop}]")
store.close()

"""One pyramidal neuron through the forward and target phases.
===========================================================

A single hidden neuron receives a fixed input image (20 Poisson inputs) on its basal
dendrite and feedback from two output neurons on its apical dendrite (``Y = [+8, -8]``:
output 0 excites the apical dendrite, output 1 inhibits it). Two examples with the same
image are presented, labelled 0 then 1: in each target phase the teaching input drives
the labelled output, and the apical potential, hence the plateau potential
``alpha = sigmoid(mean V_a)``, moves up (label 0) or down (label 1). The figure shows the
basal, somatic and apical potentials and the plateau of every phase.

Usage::

    python3 examples/single_neuron.py [--out output/single_neuron.png] [--g-A 0.05] [--seed 1]
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="output/single_neuron.png",
                        help="PNG file to write (default output/single_neuron.png)")
    parser.add_argument("--g-A", type=float, default=0.0,
                        help="apical -> soma conductance in 1/ms (paper: 0, variants 0.05, 0.6)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from dendrinet.config import load_model, load_protocol
    from dendrinet.backends.brian2.network import DendriticNetwork
    from dendrinet.config.schedule import FORWARD, training_schedule
    from dendrinet.model.weights import Parameters

    base = load_model("guerguiev2017-1hidden")
    model = dataclasses.replace(
        base, hidden=(1,), n_outputs=2, neuron=dataclasses.replace(base.neuron, g_A=args.g_A))
    protocol = load_protocol("paper-timing")
    rng = np.random.default_rng(args.seed)
    n_inputs = 20
    image = rng.uniform(0.2, 1.0, size=(1, n_inputs))
    params = Parameters(
        W=[np.full((n_inputs, 1), 0.5), np.array([[1.0, 1.0]])],
        b=[np.array([0.0]), np.array([-1.0, -1.0])],
        Y=[np.array([[8.0], [-8.0]])])
    schedule = training_schedule(protocol, [0, 0], [0, 1], rng)
    net = DendriticNetwork(model, params, n_inputs, protocol.dt, record_traces=("V", "V_b", "V_a"))
    result = net.run(schedule, image, seed=args.seed)

    t = result.trace_times
    traces = result.traces["hidden_0"]
    fig, (ax_v, ax_a) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
    colors = {"forward": "#dbe9f6", "target": "#fde3cc"}
    for p in range(len(schedule)):
        phase = "forward" if schedule.phase[p] == FORWARD else "target"
        t0, t1 = schedule.t_start[p], schedule.t_stop[p]
        tw = t0 + schedule.settle[p] * schedule.dt
        for ax in (ax_v, ax_a):
            ax.axvspan(t0, t1, color=colors[phase], zorder=0)
            ax.axvspan(tw, t1, facecolor="none", hatch="//", edgecolor="0.78", lw=0, zorder=1)
        ax_v.text((t0 + t1) / 2, 1.0, f"{phase}\nlabel {schedule.label[p]}", ha="center",
                  va="bottom", transform=ax_v.get_xaxis_transform(), fontsize=9)
        alpha = result.alpha["hidden_0"][p, 0]
        ax_a.hlines(alpha, tw, t1, color="k", lw=2.5, zorder=3)
        ax_a.text(t1 - 1, alpha + 0.05, f"alpha = {alpha:.2f}", ha="right", fontsize=9,
                  bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax_v.plot(t, traces["V_b"][:, 0], color="tab:blue", lw=1, label="basal $V_b$")
    ax_v.plot(t, traces["V"][:, 0], color="tab:green", lw=1.8, label="soma $V$")
    ax_v.plot(t, traces["V_a"][:, 0], color="tab:red", lw=1, label="apical $V_a$")
    ax_v.set_ylabel("potential (dimensionless)")
    ax_v.legend(loc="lower left", ncol=3, fontsize=9, framealpha=0.9)
    ax_v.set_title(f"One hidden neuron, fixed input image (g_A = {args.g_A:g} /ms)", pad=28)
    handles = ax_a.plot(t, 1 / (1 + np.exp(-traces["V_a"][:, 0])), color="tab:red", lw=0.8,
                        label="sigmoid($V_a$)")
    handles += ax_a.plot([], [], color="k", lw=2.5, label="plateau alpha (window average)")
    handles.append(Patch(facecolor="white", hatch="//", edgecolor="0.6",
                         label="averaging window"))
    ax_a.set_ylim(0, 1.1)
    ax_a.set_ylabel("plateau potential")
    ax_a.set_xlabel("time (ms)")
    ax_a.legend(handles=handles, loc="lower left", fontsize=9, ncol=3, framealpha=0.9)
    ax_a.set_xlim(0, t[-1] + schedule.dt)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    alphas = result.alpha["hidden_0"][:, 0]
    print(f"plateaus per phase (forward, target, forward, target): "
          f"{', '.join(f'{a:.3f}' for a in alphas)}")
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()

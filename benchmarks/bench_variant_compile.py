"""What a new model variant costs before it runs: compile time of the fast engine for an
edited neuron or rule, and for a changed parameter value of an edited model.

Each measurement runs in a fresh Python process (nothing compiled in memory) with a
fresh generated-code cache (``DENDRINET_CACHE`` in a temporary folder) and a fresh
Numba cache (``NUMBA_CACHE_DIR``, also temporary): the time from building the engine to
the end of its first training example and first test presentation, minus the same work
done again in that process (everything compiled). The standard model runs first
(``install``: what a new installation compiles once, for every model); the variants
then measure what each new variant costs on top.

Cases (model files as a user writes them, ``extends`` the paper's 1-hidden model):
``neuron``: a new somatic term; ``state``: a new state variable with two parameters;
``rule``: the user's own learning rule file; ``value``: ``state`` again with another
value of one parameter, in a new process but the same cache (should compile nothing).

Usage::

    python benchmarks/bench_variant_compile.py [--repeat 1] [--out table.md]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MODELS = {
    "neuron": """
        extends = "guerguiev2017-1hidden"
        [equations]
        hidden_soma = "0.02*V_a*(2 - V)/ms"
        """,
    "state": """
        extends = "guerguiev2017-1hidden"
        [equations]
        hidden_extra = "dw/dt = (a_w*V - w)/tau_w : 1"
        hidden_soma = "-w/ms"
        [equations.parameters]
        a_w = "0.5"
        tau_w = "50 ms"
        """,
    "value": """
        extends = "guerguiev2017-1hidden"
        [equations]
        hidden_extra = "dw/dt = (a_w*V - w)/tau_w : 1"
        hidden_soma = "-w/ms"
        [equations.parameters]
        a_w = "0.8"
        tau_w = "50 ms"
        """,
    "rule": """
        extends = "guerguiev2017-1hidden"
        [learning]
        rule = "my_rule.py:scaled_error"
        """,
}

RULE = '''
from numba import njit

@njit(cache=True)
def scaled_error(layer, e):
    for j in range(e.size):
        v = layer.V_f[j]
        s = 1.0 / (1.0 + 2.718281828459045 ** (-v))
        e[j] = 0.5 * (layer.alpha_t[j] - layer.alpha_f[j]) * layer.k_B * layer.phi_max * s * (1 - s)
'''

PROBE = """
import sys, time
import numpy as np
from dendrinet.config import load_model, load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.backends.numba.engine import FastEngine
try:
    from dendrinet.model.weights import initial_parameters
except ImportError:  # dendrinet <= 0.3 (for A/B runs against an older checkout)
    from dendrinet.weights import initial_parameters

model = load_model(sys.argv[1])
protocol = load_protocol("quick")
data = load_dataset("digits", n_train=2, n_test=1)

def once():
    t0 = time.perf_counter()
    params = initial_parameters(model, data.n_inputs, np.random.default_rng(0))
    engine = FastEngine(model, protocol, params, seed=0)
    engine.train_epoch(data.X_train[:1], data.y_train[:1])
    engine.evaluate(data.X_test[:1], data.y_test[:1])
    return time.perf_counter() - t0

first = once()
again = once()
print(first - again)
"""


def _run(model_file: Path, cache: Path) -> float:
    env = dict(os.environ, DENDRINET_CACHE=str(cache),
               NUMBA_CACHE_DIR=str(model_file.parent / "numba-cache"))
    out = subprocess.run([sys.executable, "-c", PROBE, str(model_file)], env=env, check=True,
                         capture_output=True, text=True, cwd=model_file.parent)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"install": [], **{name: [] for name in MODELS}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "my_rule.py").write_text(RULE)
        files = {}
        for name, text in MODELS.items():
            files[name] = tmp / f"{name}.toml"
            files[name].write_text(textwrap.dedent(text))
        # the package's own kernels: compiled once per installation (the standard model)
        warm = tmp / "warm.toml"
        warm.write_text('extends = "guerguiev2017-1hidden"\n')
        results["install"].append(_run(warm, tmp / "cache-warm"))
        print(f"install: {results['install'][-1]:.1f} s", flush=True)
        for r in range(args.repeat):
            cache = tmp / f"cache-{r}"
            for name in ("neuron", "state", "value", "rule"):
                results[name].append(_run(files[name], cache))
                print(f"{name}: {results[name][-1]:.1f} s", flush=True)
    rows = ["| case | compile (s) |", "|---|---|"]
    rows += [f"| {name} | {', '.join(f'{t:.1f}' for t in ts)} |" for name, ts in results.items()]
    table = "\n".join(rows)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"\n{machine}, {time.strftime('%Y-%m-%d')}\n{table}")
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "seconds": results}, indent=1))


if __name__ == "__main__":
    main()

"""One small real training run, made once per test session and shared by the analysis
and report tests: digits, one hidden layer of 30 neurons, the quick protocol, 2 epochs,
5 recorded test presentations (a few seconds with the fast engine).

Test modules wrap :func:`small_run` in a session-scoped fixture; the run folder is
cached here, so however many modules ask for it, it is trained once.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N_HIDDEN = 30
EPOCHS = 2
SAMPLE_EVERY = 50
N_SPIKE_SAMPLES = 5

_cache: dict[str, Path] = {}


def small_run(tmp_path_factory) -> Path:
    """Path of the finished run folder (trained on first use)."""
    if "run" not in _cache:
        from dendrinet.training.trainer import train

        folder = tmp_path_factory.mktemp("small_run")
        text = (REPO / "models" / "guerguiev2017-1hidden.toml").read_text(encoding="utf-8")
        assert "hidden = [500]" in text
        model = folder / "small.toml"
        model.write_text(text.replace("hidden = [500]", f"hidden = [{N_HIDDEN}]"),
                         encoding="utf-8")
        run = folder / "digits-30"
        train(model, "quick", "digits", run, epochs=EPOCHS, seed=3, progress=False,
              n_spike_samples=N_SPIKE_SAMPLES, sample_every=SAMPLE_EVERY)
        _cache["run"] = run
    return _cache["run"]


def shallow_run(tmp_path_factory) -> Path:
    """A run without hidden layer (digits, 1 epoch, no spike sample), trained once."""
    if "shallow" not in _cache:
        from dendrinet.training.trainer import train

        run = tmp_path_factory.mktemp("shallow_run") / "digits-0hidden"
        train("guerguiev2017-0hidden", "quick", "digits", run, epochs=1, seed=4,
              progress=False, n_spike_samples=0)
        _cache["shallow"] = run
    return _cache["shallow"]


def summary_json(run: Path) -> dict:
    """``summary.json`` read directly (not through dendrinet)."""
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def unfinished_copy(run: Path, target: Path) -> Path:
    """A copy of ``run`` whose summary says it is still running."""
    shutil.copytree(run, target)
    info = summary_json(target)
    info["status"] = "running"
    (target / "summary.json").write_text(json.dumps(info), encoding="utf-8")
    return target

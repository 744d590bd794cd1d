"""Sweep files: grids of training runs, validated and expanded into :class:`RunSpec` s.

A sweep file holds one grid, ``[sweep]``, or several, ``[[sweep]]`` (their union runs;
a run that two grids both name runs once)::

    [sweep]
    models = ["guerguiev2017-0hidden", "guerguiev2017-1hidden"]   # names or files
    datasets = ["mnist"]
    seeds = [0, 1, 2]
    epochs = 20
    # optional: protocols (default ["paper-timing"]), n_train, n_test, engine, data_dir

    [sweep.parameters]                  # optional: a grid over model/protocol values
    "learning.eta" = [[0.4, 0.1], [0.8, 0.05]]
    "protocol.settle" = ["30 ms", "60 ms"]

Parameter paths name fields of the model and protocol dataclasses
(:class:`~dendrinet.config.ModelConfig`, :class:`~dendrinet.config.ProtocolConfig`):
``hidden``, ``n_outputs`` and ``<table>.<field>`` (``neuron.g_A``, ``init.V_sd``,
``feedback.mode``, ``learning.eta``, ``equations.apical``) for the model;
``protocol.<field>`` (``protocol.settle``, ``protocol.phase_duration``,
``protocol.test_duration``, ``protocol.test_settle``, ``protocol.jitter``, ...) for the
protocol. Values are written as in model and protocol files, units included
(``"80 ms"``, ``"0.05 /ms"``), and parsed by the same code. Every combination is one
run, named ``<model>__[<protocol>__]<dataset>__[<key>=<value>__...]seed<N>`` (the
protocol only when it is not the default, ``paper-timing``). A name longer than
:data:`~dendrinet.config.limits.MAX_RUN_NAME_CHARS` characters is cut, with a hash of the whole
name and its ``seed<N>`` part (:func:`~dendrinet.config.limits.shorten_run_name`): the same
name every time, so a resumed sweep finds its runs.

References. A top-level ``references = ["logistic-regression", "mlp"]`` (before the
first table) asks the summary (:func:`~dendrinet.sweep.write_sweep_report`) for
non-spiking classifiers on the same splits: scikit-learn's logistic regression and a
backprop MLP of each hidden-layer shape of the runs, trained as many epochs as the runs
(:mod:`dendrinet.analysis.references`); each figure is computed once and kept in the
sweep folder's ``references.json``.

Size. A sweep of more than :data:`~dendrinet.config.limits.MAX_SWEEP_RUNS` runs is refused
unless ``allow_large`` (``dendrinet sweep --allow-large``); the number is counted from
the lengths of the lists before any run is built.

Relative paths in a sweep file (models, protocols, ``data_dir``) are relative to the
sweep file's folder, like ``extends`` in model files.
"""
from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dendrinet.analysis.references import REFERENCES
from dendrinet.config import limits
from dendrinet.config import (
    DEFAULT_PROTOCOL,
    ModelConfig,
    ProtocolConfig,
    load_model,
    load_protocol,
)
from dendrinet.errors import ConfigError, DendrinetError
from dendrinet.sweep.parameters import (
    MODEL_PATHS,
    PROTOCOL_PATHS,
    apply_values,
    freeze,
    path_problem,
    run_name_keys,
    run_name_part,
    value_problem,
    value_text,
)

__all__ = ["DEFAULT_PROTOCOL", "RunSpec", "Sweep", "load_sweep"]

REQUIRED_KEYS = ("models", "datasets", "seeds", "epochs")
OPTIONAL_KEYS = ("protocols", "n_train", "n_test", "engine", "data_dir", "parameters")

@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: everything :func:`dendrinet.training.trainer.train` needs.

    Attributes
    ----------
    run_id : str
        Folder name under ``DIR/runs/``.
    model, protocol : ModelConfig, ProtocolConfig
        With the swept parameters applied.
    dataset : str
    seed, epochs : int
    n_train, n_test : int or None
    engine : str
    data_dir : str or None
        Absolute path.
    parameters : tuple of (str, value)
        The values of this run's grid, as written in the sweep file.
    """

    run_id: str
    model: ModelConfig
    protocol: ProtocolConfig
    dataset: str
    seed: int
    epochs: int
    n_train: int | None = None
    n_test: int | None = None
    engine: str = "fast"
    data_dir: str | None = None
    parameters: tuple[tuple[str, Any], ...] = ()

    def value(self, path: str) -> Any:
        """The value of a parameter path in this run's model or protocol (canonical
        units: ms, 1/ms; tuples as lists)."""
        if path.startswith("protocol."):
            value = getattr(self.protocol, path.split(".", 1)[1])
        else:
            value = self.model
            for part in path.split("."):
                value = getattr(value, part)
        return list(value) if isinstance(value, tuple) else value

    def settings(self, paths=()) -> dict:
        """The run as a JSON-compatible dict (``sweep.json``), with the values of
        ``paths``."""
        return {"run": self.run_id, "model": self.model.name, "protocol": self.protocol.name,
                "dataset": self.dataset, "seed": self.seed, "epochs": self.epochs,
                "n_train": self.n_train, "n_test": self.n_test, "engine": self.engine,
                "data_dir": self.data_dir,
                "parameters": {p: self.value(p) for p in paths}}


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file.

    Attributes
    ----------
    source : Path
    text : str
        The file's text (copied into the sweep folder).
    runs : tuple of RunSpec
        Every run, in file order (grids, then models, protocols, datasets, parameter
        values, seeds).
    parameters : tuple of str
        The swept parameter paths of all grids, in order of first appearance.
    references : tuple of str
        Non-spiking classifiers the summary puts beside the runs, on the same splits
        (top-level ``references = ["logistic-regression", "mlp"]``;
        :mod:`dendrinet.analysis.references`).
    """

    source: Path
    text: str
    runs: tuple[RunSpec, ...]
    parameters: tuple[str, ...]
    references: tuple[str, ...] = ()


# ------------------------------------------------------------------ reading


class _Problems(list):
    def raise_if_any(self, where: str) -> None:
        if len(self) == 1:
            raise ConfigError(f"{where}: {self[0]}")
        if self:
            raise ConfigError(f"{where}: {len(self)} problems:\n" +
                              "\n".join(f"  - {p}" for p in self))


def load_sweep(path, allow_large: bool = False) -> Sweep:
    """Read and validate a sweep file and expand it into runs.

    Nothing is trained and no data set is read: model and protocol files are loaded
    and every swept value is parsed and applied, so every problem is found here.

    Parameters
    ----------
    path : path-like
        The sweep file.
    allow_large : bool
        Accept more than :data:`~dendrinet.config.limits.MAX_SWEEP_RUNS` runs.

    Raises
    ------
    ConfigError
        One message naming every problem (unknown keys, missing or empty lists,
        unknown models/protocols/datasets/engines, bad parameter paths or values,
        two different runs with the same name), or the number of runs when there are
        too many (counted before any run is built).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"sweep file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    where = source.name
    problems = _Problems()
    unknown = sorted(set(doc) - {"sweep", "references"})
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(unknown)}; a sweep file holds "
                        f"one [sweep] table or several [[sweep]] tables, and optionally "
                        f"references = [...]")
    references = _strings(doc["references"], "references", problems) \
        if "references" in doc else []
    for name in references:
        if name not in REFERENCES:
            problems.append(f"references: unknown classifier {name!r}; available: "
                            f"{', '.join(REFERENCES)}")
    grids = doc.get("sweep")
    if isinstance(grids, dict):
        grids = [(grids, "[sweep]")]
    elif isinstance(grids, list) and grids and all(isinstance(g, dict) for g in grids):
        grids = [(g, f"[[sweep]] #{i}") for i, g in enumerate(grids, 1)]
    else:
        problems.append("no [sweep] table (or [[sweep]] tables)" if grids is None else
                        "'sweep' must be a table [sweep] or tables [[sweep]]")
        grids = []
    n_runs = sum(_grid_size(g) for g, _ in grids)  # an upper bound: grids may share runs
    if n_runs > limits.MAX_SWEEP_RUNS and not allow_large:
        raise ConfigError(f"{where}: the grid has {n_runs:,} runs, more than "
                          f"{limits.MAX_SWEEP_RUNS:,}; pass --allow-large "
                          f"(load_sweep(..., allow_large=True)) to run them all")
    parsed = [_Grid.parse(g, loc, source.parent, problems) for g, loc in grids]
    problems.raise_if_any(where)

    paths: list[str] = []
    for grid in parsed:
        paths += [p for p in grid.parameters if p not in paths]
    runs: dict[str, RunSpec] = {}
    for grid in parsed:
        for spec in grid.expand(run_name_keys(paths), problems):
            other = runs.setdefault(spec.run_id, spec)
            if other != spec:
                problems.append(f"{grid.loc}: run {spec.run_id!r} is defined twice with "
                                f"different settings (models or protocols with the same "
                                f"name, or grids that differ in epochs/n_train/n_test/"
                                f"engine/data_dir); give them distinct names")
    problems.raise_if_any(where)
    return Sweep(source, text, tuple(runs.values()), tuple(paths),
                 tuple(dict.fromkeys(references)))


def _grid_size(table: dict) -> int:
    """Number of runs of a ``[sweep]`` table, from the lengths of its lists alone
    (before any file is loaded; a value that is not a list counts 1, and
    :meth:`_Grid.parse` names it)."""
    def length(value) -> int:
        return len(value) if isinstance(value, list) else 1

    n = length(table.get("protocols", [DEFAULT_PROTOCOL]))
    for key in ("models", "datasets", "seeds"):
        n *= length(table.get(key, []))
    parameters = table.get("parameters", {})
    for values in (parameters.values() if isinstance(parameters, dict) else ()):
        n *= length(values)
    return n


@dataclass
class _Grid:
    loc: str
    models: list
    protocols: list
    datasets: list
    seeds: list
    epochs: int
    n_train: int | None
    n_test: int | None
    engine: str
    data_dir: str | None
    parameters: dict

    @classmethod
    def parse(cls, table: dict, loc: str, base: Path, problems: _Problems) -> _Grid:
        unknown = sorted(set(table) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
        if unknown:
            problems.append(f"{loc}: unknown key(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}")
        for key in REQUIRED_KEYS:
            if key not in table:
                problems.append(f"{loc}: missing key {key!r}")
        models = [_load(spec, base, "model", f"{loc}.models", problems)
                  for spec in _strings(table.get("models", []), f"{loc}.models", problems)]
        protocols = [_load(spec, base, "protocol", f"{loc}.protocols", problems)
                     for spec in _strings(table.get("protocols", [DEFAULT_PROTOCOL]),
                                          f"{loc}.protocols", problems)]
        datasets = [d.strip().lower() for d in
                    _strings(table.get("datasets", []), f"{loc}.datasets", problems)]
        _check_datasets(datasets, f"{loc}.datasets", problems)
        seeds = _list(table.get("seeds", []), f"{loc}.seeds", problems)
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            problems.append(f"{loc}.seeds: expected integers >= 0, got {seeds!r}")
        epochs = _count(table.get("epochs", 1), f"{loc}.epochs", problems)
        n_train = _count(table.get("n_train"), f"{loc}.n_train", problems)
        n_test = _count(table.get("n_test"), f"{loc}.n_test", problems)
        engine = table.get("engine", "fast")
        from dendrinet.backends import ENGINES
        if engine not in ENGINES:
            problems.append(f"{loc}.engine: {engine!r} is not one of {', '.join(ENGINES)}")
        data_dir = table.get("data_dir")
        if data_dir is not None:
            if not isinstance(data_dir, str) or not data_dir.strip():
                problems.append(f"{loc}.data_dir: expected a folder path, got {data_dir!r}")
            else:
                data_dir = str((base / Path(data_dir).expanduser()).resolve())
        parameters = table.get("parameters", {})
        if not isinstance(parameters, dict):
            problems.append(f"{loc}.parameters: must be a table [sweep.parameters]")
            parameters = {}
        for path, values in parameters.items():
            _check_parameter(path, values, f"{loc}.parameters", problems)
        return cls(loc, models, protocols, datasets, seeds, epochs, n_train, n_test, engine,
                   data_dir, parameters)

    def expand(self, labels: dict[str, str], problems: _Problems):
        """The grid's runs; problems of parameter values are added to ``problems``."""
        model_paths = [p for p in self.parameters if p in MODEL_PATHS]
        protocol_paths = [p for p in self.parameters if p in PROTOCOL_PATHS]
        combos = [dict(zip(self.parameters, values))
                  for values in itertools.product(*self.parameters.values())]
        configured: dict = {}
        for model, protocol, combo in itertools.product(self.models, self.protocols, combos):
            key_m = (id(model), tuple(freeze(combo[p]) for p in model_paths))
            key_p = (id(protocol), tuple(freeze(combo[p]) for p in protocol_paths))
            for key, config, paths, kind in ((key_m, model, model_paths, "model"),
                                             (key_p, protocol, protocol_paths, "protocol")):
                if key not in configured:
                    configured[key] = _configure(config, {p: combo[p] for p in paths}, kind,
                                                 f"{self.loc}.parameters", problems)
            m, p = configured[key_m], configured[key_p]
            if m is None or p is None:
                continue
            for dataset, seed in itertools.product(self.datasets, self.seeds):
                parts = [m.name] + ([p.name] if p.name != DEFAULT_PROTOCOL else []) + [dataset]
                parts = [run_name_part(x) for x in parts]
                parts += [run_name_part(labels[path], v) for path, v in combo.items()]
                run_id = limits.shorten_run_name("__".join(parts + [f"seed{seed}"]))
                yield RunSpec(run_id, m, p, dataset, seed, self.epochs, self.n_train,
                              self.n_test, self.engine, self.data_dir,
                              tuple((path, freeze(v)) for path, v in combo.items()))


def _list(value, where: str, problems: _Problems) -> list:
    if not isinstance(value, list):
        problems.append(f"{where}: expected a list, got {value!r}")
        return []
    if not value:
        problems.append(f"{where}: the list is empty")
        return []
    seen, tables = set(), []  # a set: a list of 10^6 values is checked in linear time
    for v in value:
        key = freeze(v)
        try:
            twice = key in seen
            seen.add(key)
        except TypeError:  # holds a table (refused later by value_problem)
            twice = key in tables
            tables.append(key)
        if twice:
            problems.append(f"{where}: {v!r} is listed twice")
    return value


def _strings(value, where: str, problems: _Problems) -> list[str]:
    items = _list(value, where, problems)
    if any(not isinstance(v, str) or not v.strip() for v in items):
        problems.append(f"{where}: expected a list of names or file paths, got {value!r}")
        return []
    return items


def _count(value, where: str, problems: _Problems) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        problems.append(f"{where}: expected a positive integer, got {value!r}")
        return None
    return value


def _load(spec: str, base: Path, kind: str, where: str, problems: _Problems):
    """A model or protocol config from a name or a path relative to ``base``."""
    candidate = base / Path(spec).expanduser()
    if not candidate.is_file() and ("/" in spec or spec.endswith(".toml")):
        problems.append(f"{where}: {kind} file {str(candidate)!r} not found (paths in a "
                        f"sweep file are relative to its folder)")
        return None
    source = candidate if candidate.is_file() else spec
    try:
        return (load_model if kind == "model" else load_protocol)(source)
    except ConfigError as exc:
        problems.append(f"{where}: {exc}")
        return None


def _check_datasets(names: list[str], where: str, problems: _Problems) -> None:
    from dendrinet.datasets import available_datasets
    try:
        available = available_datasets()
    except DendrinetError as exc:  # a broken manifest: the runs would say so too
        problems.append(f"{where}: {exc}")
        return
    for name in names:
        if name not in available:
            problems.append(f"{where}: unknown dataset {name!r}; available: "
                            f"{', '.join(available)}")


def _check_parameter(path: str, values, where: str, problems: _Problems) -> None:
    bad_path = path_problem(path)
    if bad_path:
        problems.append(f"{where}: {bad_path}")
    n_before = len(problems)
    values = _list(values, f"{where}.{path!r}", problems)
    if len(problems) == n_before:
        bad = next(filter(None, map(value_problem, values)), None)
        if bad is not None:
            problems.append(f"{where}.{path!r}: {bad}")


def _configure(config, values: dict, kind: str, where: str, problems: _Problems):
    if config is None:
        return None
    try:
        return apply_values(config, values, kind)
    except ConfigError as exc:
        assigned = ", ".join(f"{p} = {value_text(v)}" for p, v in values.items())
        problems.append(f"{where}: {assigned} in {kind} {config.name!r}: {exc}")
        return None

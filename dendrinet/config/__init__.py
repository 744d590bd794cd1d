"""Model and protocol files (TOML) parsed into validated, frozen dataclasses.

This package is the single source of truth for parameters: the Brian2 equations
(:mod:`dendrinet.model.equations`), the Brian2 network, the fast Numba engine and the
plasticity kernels all read a :class:`ModelConfig` and a :class:`ProtocolConfig`.

One concept per module:

* :mod:`dendrinet.config.fields`: how a key is declared (:func:`~dendrinet.config.fields.setting`: table, key, unit,
  check, default, help), read, checked and written; units;
* :mod:`dendrinet.config.model` and :mod:`dendrinet.config.protocol`: the dataclasses, each key declared once on the
  field it fills, and the checks across fields;
* :mod:`dendrinet.config.reader`: files, shipped names and ``extends`` -> documents -> dataclasses;
* :mod:`dendrinet.config.writer`: dataclasses -> documents -> TOML files that read back equal.

Units. Potentials are dimensionless, as in Guerguiev et al. (2017). Every dimensional
parameter is written in the file with its unit (``"3 ms"``, ``"0.1 /ms"``,
``"200 Hz"``) and stored here as a plain float in a canonical unit: **ms** for times
and **1/ms** for rates and conductances. :meth:`NeuronParams.brian2_namespace`
turns them back into Brian2 quantities.

Errors. An unknown key, a missing unit, a wrong unit or an impossible value raises
:class:`~dendrinet.errors.ConfigError` with a message naming the file and the key.

Names and inheritance. :func:`load_model` and :func:`load_protocol` take a file path or
the name of a shipped file (``dendrinet models`` and ``dendrinet protocols`` list them;
:mod:`dendrinet.resources` finds them). A file may start with
``extends = "guerguiev2017-1hidden"`` (a shipped name, or a path, relative paths being
relative to the extending file): the base file is read first (itself possibly
extending another) and the extending file's tables are merged over it key by key, so a
variant states only what differs. ``name`` and ``description`` are not inherited.
The dataclass defaults are the values of the shipped base model
``guerguiev2017-1hidden`` and base protocol ``paper-timing``, so a table a file omits
gets the tuned values.
"""
from __future__ import annotations

from dendrinet import resources
from dendrinet.config.fields import (
    RATE_UNITS,
    TIME_UNITS,
    Bounds,
    Setting,
    declared,
)
from dendrinet.config.model import (
    FEEDBACK_MODES,
    HIDDEN_COUPLING,
    LEARNING_RULES,
    MODEL_SETTINGS,
    MODEL_TABLES,
    OUTPUT_COUPLING,
    EquationTerms,
    FeedbackParams,
    INPUT_CODINGS,
    InputParams,
    InitParams,
    LearningParams,
    ModelConfig,
    NeuronParams,
    SynapseParams,
    equation_parameter_quantity,
    equation_parameter_value,
    equation_parameters,
    is_standard,
)
from dendrinet.config.protocol import (
    DEFAULT_PROTOCOL,
    PROTOCOL_SETTINGS,
    PROTOCOL_TABLES,
    RENAMED_PROTOCOLS,
    ProtocolConfig,
)
from dendrinet.config.reader import (
    config_file,
    load_model,
    load_protocol,
    model_from_document,
    protocol_from_document,
)
from dendrinet.config.writer import (
    model_document,
    model_to_toml,
    protocol_document,
    protocol_to_toml,
)
from dendrinet.errors import ConfigError

# the name tests/test_model_payloads.py imports (the reader of [equations.parameters])
_equation_parameters = equation_parameters

__all__ = [
    "Bounds", "ConfigError", "DEFAULT_PROTOCOL", "EquationTerms", "FEEDBACK_MODES",
    "FeedbackParams", "HIDDEN_COUPLING", "INPUT_CODINGS", "InitParams", "InputParams",
    "LEARNING_RULES", "LearningParams",
    "MODEL_SETTINGS", "MODEL_TABLES", "ModelConfig", "NeuronParams", "OUTPUT_COUPLING",
    "PROTOCOL_SETTINGS", "PROTOCOL_TABLES", "ProtocolConfig", "RATE_UNITS",
    "RENAMED_PROTOCOLS", "Setting", "SynapseParams", "TIME_UNITS", "config_file", "declared",
    "equation_parameter_quantity", "equation_parameter_value", "equation_parameters",
    "is_standard", "load_model", "load_protocol", "model_document", "model_from_document",
    "model_to_toml", "protocol_document", "protocol_from_document", "protocol_to_toml",
]


def __getattr__(name: str):
    # MODELS_DIR / PROTOCOLS_DIR: the folders of the shipped files, looked up on use
    if name == "MODELS_DIR":
        return resources.models_dir()
    if name == "PROTOCOLS_DIR":
        return resources.protocols_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The protocol dataclass: the presentation and training schedule (``[protocol]``,
``[train]``, ``[test]`` of a protocol file).

Every key is declared once, on the field it fills
(:func:`~dendrinet.config.fields.setting`); the defaults are the values of the shipped
base protocol ``paper-timing``. ``[test] duration`` and ``[test] settle`` fill the fields
``test_duration`` and ``test_settle``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from dendrinet.config import limits
from dendrinet.config.fields import Bounds, declared, document_settings, setting, table_where
from dendrinet.errors import ConfigError

__all__ = ["DEFAULT_PROTOCOL", "PROTOCOL_SETTINGS", "PROTOCOL_TABLES", "ProtocolConfig",
           "RENAMED_PROTOCOLS"]

#: The protocol used when none is given: the paper's timing, fast, but 6 % on full MNIST
#: with exact PSPs (its file says why; ``guerguiev2017`` reproduces the paper's table).
DEFAULT_PROTOCOL = "paper-timing"
#: Shipped protocols renamed in dendrinet 0.3: old name -> (new name, what else changed).
RENAMED_PROTOCOLS = {
    "guerguiev2017-exact-psp": ("guerguiev2017", "with 1000 ms test presentations"),
    "guerguiev2017-long-settle": ("long-settle", "same values"),
}

_NOT_NEGATIVE = Bounds(0, reason="cannot be negative")
_POSITIVE = Bounds(0, low_open=True)


@document_settings
@dataclass(frozen=True)
class ProtocolConfig:
    """Presentation and training protocol (all times in ms).

    Each training example is a forward phase then a target phase. A phase lasts
    ``phase_duration`` plus ``dt * int(wald(jitter_mean, jitter_scale))`` (a shifted
    inverse-Gaussian jitter; ``jitter = false`` turns it off). Phase averages
    (plateau potentials, mean potentials, rates, filtered inputs) are taken over the
    integration window: every step of the phase from ``settle`` on. A test example
    is one forward presentation of ``test_duration`` with its own ``test_settle``.
    State carries over between training examples and is reset before each test
    example.
    """

    name: str = setting("paper-timing", "The protocol's name (dendrinet protocols lists the "
                                        "shipped ones).", kind="text",
                        table="protocol", swept=False)
    description: str = setting("", "A one-line description (dendrinet protocols).",
                               kind="lines", table="protocol", swept=False)
    dt: float = setting(1.0, "Time step.", unit="time", table="protocol", bounds=_POSITIVE)
    phase_duration: float = setting(50.0, "Length of a forward or target phase before "
                                          "jitter.", unit="time", table="train",
                                    bounds=_NOT_NEGATIVE)
    jitter: bool = setting(True, "Add the inverse-Gaussian jitter to every phase.",
                           kind="bool", table="train")
    jitter_mean: float = setting(2.0, "Mean of the inverse-Gaussian (Wald) jitter, in steps.",
                                 table="train", bounds=_POSITIVE)
    jitter_scale: float = setting(1.0, "Shape of the inverse-Gaussian (Wald) jitter, in "
                                       "steps.", table="train", bounds=_POSITIVE)
    settle: float = setting(30.0, "Start of the integration window within a training "
                                  "phase.", unit="time", table="train", bounds=_NOT_NEGATIVE)
    test_duration: float = setting(250.0, "Length of a test presentation.", unit="time",
                                   table="test", key="duration", bounds=_NOT_NEGATIVE)
    test_settle: float = setting(30.0, "Start of the integration window of a test "
                                       "presentation.", unit="time", table="test",
                                 key="settle", bounds=_NOT_NEGATIVE)
    epochs: int = setting(60, "Default number of passes over the training set.",
                          kind="integer", table="train",
                          bounds=Bounds(1, reason="expected a positive integer"), swept=False)
    shuffle: bool = setting(True, "Present the training examples in a new random order every "
                                  "epoch.", kind="bool", table="train")
    shift_pixels: int = setting(0, "Move each training image by a random whole number of "
                                   "pixels, up to this many along each axis, new for every "
                                   "image and epoch (pixels moved in are 0); 0 leaves the "
                                   "images as they are. Test images never move. Images only "
                                   "(dendrinet.datasets.shifts).", kind="integer",
                                table="train", bounds=Bounds(0, 1000, reason="expected a "
                                                             "whole number of pixels >= 0"))
    input_spikes: str = setting("bernoulli", "How input spikes are drawn (bernoulli: "
                                             "u < phi_max dt x per step).", kind="choice",
                                choices=("bernoulli",), table="train")

    @property
    def timing(self) -> str:
        """The durations that define the protocol, in words (reports name them beside the
        protocol's name, whose meaning changed in 0.3)."""
        return (f"{self.phase_duration:g} ms phases averaged after {self.settle:g} ms, "
                f"{self.test_duration:g} ms tests")

    def steps(self, duration_ms: float) -> int:
        """Number of time steps in ``duration_ms``."""
        return int(round(duration_ms / self.dt))

    @property
    def settle_steps(self) -> int:
        return self.steps(self.settle)

    @property
    def test_steps(self) -> int:
        return self.steps(self.test_duration)

    @property
    def test_settle_steps(self) -> int:
        return self.steps(self.test_settle)

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self, where: str) -> None:
        """The checks across fields (each field's own ran when it was read); ``where``
        names the file."""
        limits.check_presentation_steps(self, where)  # before anything is sized by steps
        for s in PROTOCOL_SETTINGS:
            value = getattr(self, s.name)
            if s.unit == "time" and abs(value / self.dt - round(value / self.dt)) > 1e-9:
                raise ConfigError(f"{table_where(where, s.table)}.{s.key}: {s.name} = "
                                  f"{value} ms is not a whole number of dt = {self.dt} ms")
        if self.settle >= self.phase_duration:
            raise ConfigError(
                f"{table_where(where, 'train')}.settle: the settle time must be shorter than "
                f"the phase ({self.settle} ms >= {self.phase_duration} ms), or the window "
                f"is empty")
        if self.test_settle >= self.test_duration:
            raise ConfigError(f"{table_where(where, 'test')}.settle: must be shorter than the "
                              f"test duration")


#: Every key of a protocol file, declared once, in field order.
PROTOCOL_SETTINGS = declared(ProtocolConfig)
#: The tables of a protocol file, in file order.
PROTOCOL_TABLES = tuple(dict.fromkeys(s.table for s in PROTOCOL_SETTINGS))

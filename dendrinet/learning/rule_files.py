"""A user's learning-rule file is Python code: announced before it runs, and kept in the
run folder that was trained with it.

A model may name its hidden layers' rule as ``[learning] rule = "my_rules.py:my_rule"``.
Importing that file executes it, so

* it runs only when the user named it on purpose: a model, sweep or run folder is data,
  and naming a rule file there is not enough. The user names the file
  (``dendrinet train --rule-file my_rules.py``, :func:`allow`; a sweep passes what its
  user allowed on to its workers, :func:`allowed`); a file whose content was not allowed
  is refused with one error before anything runs (:func:`check_allowed`; the loader
  :func:`dendrinet.learning.rule_part.load_user_rule` checks the very bytes it runs);
* the first time a process is about to execute a rule file's content, one line on
  stderr names the file and its SHA-256 (:func:`announce`; the fast engine's loader,
  :func:`dendrinet.learning.rule_part.load_user_rule`, calls it);
* ``dendrinet train`` copies the file into the run's ``config/`` folder
  (:func:`keep_copy`), records the copy's SHA-256 in ``summary.json`` (``rule_file``)
  and writes ``config/model.toml`` naming the copy, relative to itself: the run stays
  usable when the original file moves, and is trained with exactly the bytes it keeps;
* whoever reads a run folder back (``evaluate``, ``--resume``, ``from_run``,
  ``simulate --run``) gets its model only after :func:`check_run_rule`: the model may
  name no rule file but the run's own recorded copy, with its recorded hash. A run
  folder without a rule copy never executes anything from the folder.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path

from dendrinet.config import LEARNING_RULES, ModelConfig
from dendrinet.errors import DendrinetError, RunError

__all__ = ["user_rule_file", "file_sha256", "allow", "allowed", "check_allowed", "require_allowed",
           "announce",
           "keep_copy", "check_run_rule"]

#: Where a run folder keeps its model, protocol and rule file.
CONFIG_DIR = "config"
#: Largest rule file read (bytes): rule files are small Python modules.
MAX_RULE_BYTES = 4 * 2**20
#: The digests of the rule contents this process has announced.
_announced: set[str] = set()
#: The digests of the rule contents the user allowed to run in this process.
_allowed: set[str] = set()


def user_rule_file(model: ModelConfig) -> tuple[Path, str] | None:
    """``(file, function)`` of the model's user rule; None for a shipped rule."""
    rule = model.learning.rule
    if rule in LEARNING_RULES:
        return None
    path, name = rule.rsplit(":", 1)
    return Path(path), name


def read_rule(path: str | os.PathLike, what: str = "learning rule file") -> bytes:
    """The bytes of a rule file (one :class:`DendrinetError` naming it if unreadable, or
    larger than :data:`MAX_RULE_BYTES`)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_RULE_BYTES + 1)
    except OSError as exc:
        raise DendrinetError(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_RULE_BYTES:
        raise DendrinetError(f"{what} {path} is larger than {MAX_RULE_BYTES // 2**20} MiB; a "
                             "rule file is a small Python module")
    return data


def file_sha256(data: bytes) -> str:
    """The SHA-256 of a file's content, 64 hex digits (as ``sha256sum`` prints it)."""
    return hashlib.sha256(data).hexdigest()


def allow(path: str | os.PathLike | None = None, *, digests=()) -> str | None:
    """Allow a learning-rule file of yours to run in this process.

    A model file that names a rule file (``[learning] rule = "my_rules.py:f"``) is data
    that someone may have shared; the Python code it names runs only when you name
    that file yourself, here or with ``--rule-file`` on the command line. What is
    allowed is the file's *content* (its SHA-256): the run folder's copy of the same
    file runs too, an edited file does not.

    Parameters
    ----------
    path : path-like, optional
        The rule file (read now; its later edits need a new call).
    digests : iterable of str
        SHA-256 digests allowed elsewhere (a sweep's workers get their client's).

    Returns
    -------
    str or None
        The file's SHA-256 (None without ``path``).

    Examples
    --------
    >>> import dendrinet
    >>> dendrinet.allow_rule_file("my_rules.py")  # doctest: +SKIP
    '3f5a...'
    """
    for digest in digests:
        if not (isinstance(digest, str) and len(digest) == 64
                and all(c in "0123456789abcdef" for c in digest)):
            raise DendrinetError(f"{digest!r} is not a SHA-256 digest (64 hex digits)")
        _allowed.add(digest)
    if path is None:
        return None
    digest = file_sha256(read_rule(path))
    _allowed.add(digest)
    return digest


def allowed() -> tuple[str, ...]:
    """The SHA-256 digests of the rule contents allowed in this process (sorted)."""
    return tuple(sorted(_allowed))


def check_allowed(model: ModelConfig) -> None:
    """One clear error, before anything runs, when ``model`` names a rule file whose
    content the user has not allowed (:func:`allow`); nothing for a shipped rule."""
    rule = user_rule_file(model)
    if rule is not None:
        require_allowed(rule[0], file_sha256(read_rule(rule[0])))


def require_allowed(path: str | os.PathLike, digest: str) -> None:
    """One :class:`DendrinetError` naming ``path`` unless its content ``digest`` was
    allowed (:func:`allow`)."""
    if digest not in _allowed:
        raise DendrinetError(
            f"the learning rule file {path} (sha256 {digest[:16]}...) is Python code that "
            "you have not named: a model file is data, so dendrinet runs a rule file only "
            f"when you name it yourself. Read it, then add --rule-file {path} (Python: "
            f"dendrinet.allow_rule_file({str(path)!r})). Nothing was run")


def announce(path: str | os.PathLike, digest: str) -> None:
    """Say on stderr, once per process and content, that a rule file is about to run.

    Parameters
    ----------
    path : path-like
        The file as it will be executed.
    digest : str
        Its content's :func:`file_sha256`.
    """
    if digest in _announced:
        return
    _announced.add(digest)
    print(f"dendrinet: running the learning rule {path} (sha256 {digest}); a rule file is "
          "Python code: use only rule files you trust", file=sys.stderr, flush=True)


def keep_copy(run: Path, model: ModelConfig, write) -> tuple[ModelConfig, ModelConfig, dict]:
    """Copy the model's rule file into a new run's ``config/`` folder.

    Parameters
    ----------
    run : Path
        The run folder.
    model : ModelConfig
        A model with a user rule (see :func:`user_rule_file`).
    write : callable
        ``write(relpath, data)``: the run folder's writer (atomic, listed in the run's
        marker, following no link; :meth:`dendrinet.training.run_folder.RunFiles.write_bytes`).

    Returns
    -------
    (ModelConfig, ModelConfig, dict)
        The model naming the copy by its absolute path (to train with: the run executes
        exactly the bytes it keeps), the same naming it relative to ``config/`` (to
        write as ``config/model.toml``), and the record for ``summary.json``:
        ``{"path": "config/NAME.py", "sha256": ..., "original": ...}``.
    """
    original, function = user_rule_file(model)
    data = read_rule(original)
    digest = file_sha256(data)
    announce(original, digest)  # the user's own name for it; the copy then runs silently
    relpath = f"{CONFIG_DIR}/{original.name}"
    write(relpath, data)

    def naming(rule: str) -> ModelConfig:
        return replace(model, learning=replace(model.learning, rule=f"{rule}:{function}"))

    record = {"path": relpath, "sha256": digest, "original": str(original)}
    return naming(str((run / relpath).resolve())), naming(original.name), record


def check_run_rule(run: Path, model: ModelConfig, info: dict) -> None:
    """Refuse a run folder's model whose rule file is not the run's own recorded copy.

    Nothing is imported here: the check runs before any engine is made.

    Parameters
    ----------
    run : Path
        The run folder.
    model : ModelConfig
        The model read from its ``config/model.toml`` (rule paths resolved).
    info : dict
        Its ``summary.json``.

    Raises
    ------
    RunError
        The rule file lies outside the run's ``config/`` folder, is not the copy
        ``summary.json`` records, or its content has changed since training.
    """
    rule = user_rule_file(model)
    if rule is None:
        return
    path = rule[0].resolve()
    record = info.get("rule_file")
    if path.parent != (run / CONFIG_DIR).resolve():
        raise RunError(f"{run}: the run's model names a rule file outside the run folder "
                       f"({rule[0]}); a run folder runs only its own copy of its rule "
                       f"({CONFIG_DIR}/NAME.py, recorded with its sha256 in summary.json by "
                       "'dendrinet train'), so nothing was run; train the run again")
    if not isinstance(record, dict) or not isinstance(record.get("path"), str) or \
            (run / record["path"]).resolve() != path:
        raise RunError(f"{run}: the run's model names the rule file {rule[0]}, which its "
                       "summary.json does not record as the run's copy of its rule; nothing "
                       "was run")
    try:
        digest = file_sha256(read_rule(path, "the run's copy of its learning rule"))
    except DendrinetError as exc:
        raise RunError(f"{run}: {exc}") from None
    recorded = str(record.get("sha256"))
    if digest != recorded:
        raise RunError(f"{run}: the run's copy of its learning rule {rule[0]} has changed "
                       f"since training (sha256 {digest[:16]}..., recorded {recorded[:16]}...); "
                       "nothing was run: restore the file, or train the run again")

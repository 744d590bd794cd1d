"""Moved to :mod:`dendrinet.learning.rules` (learning is apart from the engines); this
name stays importable for rule files written for dendrinet 0.3."""
from dendrinet.learning.rules import *  # noqa: F401,F403
from dendrinet.learning.rules import HiddenLayer, gaussian  # noqa: F401

"""dendrinet: spiking networks of pyramidal neurons with segregated dendrites.

Brian2 equations for the neurons, Numba kernels for the local learning rules of
Guerguiev, Lillicrap & Richards (eLife 2017), HDF5 spike storage and analysis.
"""

__version__ = "0.3.0"


def allow_rule_file(path) -> str:
    """Allow the learning-rule file ``path`` (Python code of yours) to run in this process.

    A model file naming a rule file is data; its code runs only once you name the file
    (the command line's ``--rule-file``). Returns the content's SHA-256; see
    :func:`dendrinet.learning.rule_files.allow`.
    """
    from dendrinet.learning.rule_files import allow

    return allow(path)

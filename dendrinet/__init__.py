"""dendrinet: spiking networks of pyramidal neurons with segregated dendrites.

Brian2 equations for the neurons, Numba kernels for the local learning rules of
Guerguiev, Lillicrap & Richards (eLife 2017), HDF5 spike storage and analysis.
"""

__version__ = "0.3.0"

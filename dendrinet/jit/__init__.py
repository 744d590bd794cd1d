"""Numba building blocks shared by the learning kernels and the fast engine: compile
options and vectorisable numerics, per-neuron random streams, and first-class functions
(the boundary between the engine and a model's own code)."""

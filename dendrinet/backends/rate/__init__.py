"""The rate engine (``--engine rate``): the mean-field version of the fast engine's
discrete-time network (:mod:`dendrinet.backends.rate.engine`, kernels in
:mod:`dendrinet.backends.rate.rate_kernels`). It reuses the fast engine's records and a
model's neuron part (:mod:`dendrinet.backends.numba.model_part`); nothing in
:mod:`dendrinet.backends.numba` imports it."""

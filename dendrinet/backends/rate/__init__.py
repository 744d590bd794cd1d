"""The rate engine (``--engine rate``): the mean-field version of the fast engine's
discrete-time network (:mod:`dendrinet.backends.rate.engine`; a step in
:mod:`dendrinet.backends.rate.rate_kernels`, a phase's fixed point in
:mod:`dendrinet.backends.rate.fixed_point`, the loops over examples in
:mod:`dendrinet.backends.rate.drivers`). It reuses the fast engine's records and a
model's neuron part (:mod:`dendrinet.backends.numba.model_part`); nothing in
:mod:`dendrinet.backends.numba` imports it."""

"""Learning, apart from the engines: the plasticity kernels (Numba), the hidden layers'
rules, the record of an example they read, the flat parameter layout, and the model's
rule as a first-class function (:mod:`~dendrinet.learning.rule_part`). Every engine
(fast, Brian2) computes an example's phase averages its own way and hands them to the
same kernels."""

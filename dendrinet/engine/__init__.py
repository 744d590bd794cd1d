"""Simulation engines: the Brian2 network and the fast Numba engine."""

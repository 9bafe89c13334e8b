"""The test homeserver: Synapse on loopback (the code lives in ``bench/homeserver.py``, which the Matrix benchmark
shares)."""

from shequn.bench.homeserver import Account, MatrixHTTPError, Synapse, free_port

__all__ = ["Account", "MatrixHTTPError", "Synapse", "free_port"]

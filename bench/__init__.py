"""Benchmarks (性能基准), run with ``shequn bench …``.

Owns: one module per benchmark and :mod:`.harness` (child processes pinned to one core, peak memory, reports).
Each benchmark compares against the goal or peer its issue names, in the same run, and reports the ratio.
May import: everything in shequn, plus benchmark-only peers where a benchmark names one.
"""

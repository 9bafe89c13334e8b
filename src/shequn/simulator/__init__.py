"""Simulator (模拟器): realistic community activity with known ground truth, for demos, tests and benchmarks.

Owns: the plan of communities and groups of every type, the lazy, deterministic event generator and the ground
truth (lifecycles, key members, ads and hard negatives, conversion, renewals, guest talks). May import:
:mod:`shequn.domain` and :mod:`shequn.playbook` only; no store, no engine, no I/O except :func:`write_truth`.

    sim = simulate(groups=1000, days=30, seed=1)
    for event in sim.events(): ...
    write_truth(sim, Path("truth.json"))
"""

from shequn.simulator.simulation import DEFAULT_START, SimGroup, Simulation, simulate, write_truth
from shequn.simulator.truth import GroupTruth, Truth

__all__ = ["DEFAULT_START", "GroupTruth", "SimGroup", "Simulation", "Truth", "simulate", "write_truth"]

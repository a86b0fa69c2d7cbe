"""Benchmarks for idgrad: overhead, peers, memory, accuracy per cost, GPU.

Each module measures one table and can run on its own
(``python -m benchmarks.<name> [--quick]``); ``python -m benchmarks.run``
regenerates every table and plot into ``benchmarks/results/``.

Timings are taken side by side in one process, interleaved and repeated, and
reported as ratios with their median: the machines these run on are shared and
noisy, so absolute seconds are shown only for orientation.
"""

__all__ = ["NAMES"]

NAMES: tuple[str, ...] = ("overhead", "peers", "memory", "accuracy", "gpu")

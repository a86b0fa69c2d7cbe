"""Benchmarks for idgrad: speed, memory, accuracy per cost, the paper's protocol, and more.

Each module measures one thing and runs on its own (``python -m benchmarks.<module>``);
``python -m benchmarks.run --list`` lists them all (what each measures, what it writes, how
long a full run took) and ``python -m benchmarks.run`` regenerates the default set into
``benchmarks/results/`` and rebuilds BENCHMARKS.md from it (:mod:`benchmarks.assemble`).

Timings are taken side by side in one process, interleaved and repeated, and
reported as ratios with their median: the machines these run on are shared and
noisy, so absolute seconds are shown only for orientation.
"""

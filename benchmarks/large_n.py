"""Cost at large ``n_steps``: every rule and every schedule against uniform midpoint IG.

A tiny MLP (10 features, one hidden layer of 32 tanh units, 2 outputs), one example, at
``n_steps`` = 10^4, 10^5 and 10^6. Each case runs in a fresh subprocess, which records its
wall time and its peak resident memory (``VmHWM``, :func:`benchmarks.memory._peak_mb`)
after a warm-up call at ``n_steps=64``; the reference is IG with the uniform midpoint rule at
the same ``n_steps``, measured in the same round. Targets (issue 20): IG on every rule and
IDG on every schedule within 2x the reference's time, memory flat in ``n_steps``; and
Gauss-Legendre nodes for ``n = 10^6`` in under a second
(:func:`idgrad.engine.legendre.gauss_legendre`, timed in the parent).

Run: ``python -m benchmarks.large_n [--quick] [--smoke]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import command_line, header, markdown_table, verdict, write_result

__all__ = ["CASES", "main"]

ROOT = Path(__file__).resolve().parent.parent

#: Peak memory counts as flat when it grows by less than this many MB over the n range.
FLAT_MB = 50

#: label -> (method, options)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "IG uniform riemann_middle (reference)": ("ig", {"rule": "riemann_middle"}),
    "IG uniform riemann_left": ("ig", {"rule": "riemann_left"}),
    "IG uniform riemann_right": ("ig", {"rule": "riemann_right"}),
    "IG uniform riemann_trapezoid": ("ig", {"rule": "riemann_trapezoid"}),
    "IG uniform gausslegendre": ("ig", {"rule": "gausslegendre"}),
    "IG graded": ("ig", {"schedule": "graded"}),
    "IDG uniform": ("idg", {"schedule": "uniform"}),
    "IDG pilot": ("idg", {"schedule": "pilot"}),
    "IDG graded": ("idg", {"schedule": "graded"}),
}

_CHILD = r"""
import json, sys, time
import torch
sys.path.insert(0, sys.argv[1])
from benchmarks.memory import _peak_mb
import idgrad
torch.set_num_threads(1)
spec = json.loads(sys.argv[2])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
for p in model.parameters():
    p.requires_grad_(False)
x = torch.randn(1, 10)
fn = idgrad.integrated_gradients if spec["method"] == "ig" else idgrad.integrated_decision_gradients
fn(model, x, target=1, n_steps=64, **spec["options"])
before = _peak_mb()
t0 = time.perf_counter()
fn(model, x, target=1, n_steps=spec["n"], **spec["options"])
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak": _peak_mb(), "setup": before}))
"""


def _run(method: str, options: dict[str, Any], n: int) -> dict[str, float]:
    spec = json.dumps({"method": method, "options": options, "n": n})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), spec],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{method} {options} n={n}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 10^5, one round")
    parser.add_argument("--smoke", action="store_true", help="tiny n (tests)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    ns: tuple[int, ...]
    if args.smoke:
        ns, rounds = (2000,), 1
    elif args.quick:
        ns, rounds = (10**4, 10**5), 1
    else:
        ns, rounds = (10**4, 10**5, 10**6), args.rounds
    from idgrad.engine.legendre import gauss_legendre

    node_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        gauss_legendre(max(ns))
        node_times.append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    text = header("Cost at large n_steps", command_line("benchmarks.large_n", argv))
    text += (
        f"\nLoad average at the start: {load:.2f}. A tiny tanh MLP, one example; each case in "
        "a fresh process after a warm-up call; time of one call (median of "
        f"{rounds} rounds; in each round every case runs once) and its ratio to uniform "
        "midpoint IG at the same `n_steps` in the same round; peak resident memory of the "
        "process (MB).\n\n"
        f"Gauss-Legendre nodes for n = {max(ns):,}: {statistics.median(node_times):.3f} s "
        "(median of 3).\n\n"
    )
    rows = []
    worst: dict[int, float] = {}
    peak_by_n: dict[str, dict[int, float]] = {label: {} for label in CASES}
    for n in ns:
        times: dict[str, list[float]] = {label: [] for label in CASES}
        ratios: dict[str, list[float]] = {label: [] for label in CASES}
        peaks: dict[str, float] = {}
        for _ in range(rounds):
            measured = {label: _run(m, o, n) for label, (m, o) in CASES.items()}
            ref = measured["IG uniform riemann_middle (reference)"]["seconds"]
            for label, r in measured.items():
                times[label].append(r["seconds"])
                ratios[label].append(r["seconds"] / ref)
                peaks[label] = max(peaks.get(label, 0.0), r["peak"])
        for label in CASES:
            peak_by_n[label][n] = peaks[label]
            ratio = statistics.median(ratios[label])
            worst[n] = max(worst.get(n, 0.0), ratio)
            rows.append(
                [
                    f"{n:,}",
                    label,
                    f"{statistics.median(times[label]):.3f}",
                    f"{ratio:.2f}",
                    f"{peaks[label]:.0f}",
                ]
            )
    text += markdown_table(["n_steps", "case", "seconds", "/ midpoint IG", "peak MB"], rows)
    text += "\n"
    # memory flat: the largest n's peak against the smallest n's, per case (MB of growth)
    growth = {label: by_n[max(ns)] - by_n[min(ns)] for label, by_n in peak_by_n.items()}
    worst_growth = max(growth, key=lambda label: growth[label])
    text += markdown_table(
        ["target", "measured", "verdict"],
        [
            [
                "every rule and schedule <= 2x midpoint IG",
                ", ".join(f"n={n:,}: worst {w:.2f}" for n, w in worst.items()),
                verdict(all(w <= 2.0 for w in worst.values())),
            ],
            [
                f"peak memory flat in n_steps (grows < {FLAT_MB} MB from n={min(ns):,} "
                f"to n={max(ns):,})",
                f"most growth: {worst_growth}, {growth[worst_growth]:+.0f} MB",
                verdict(growth[worst_growth] < FLAT_MB),
            ],
            [
                f"Gauss-Legendre nodes for n = {max(ns):,} in < 1 s",
                f"{statistics.median(node_times):.3f} s",
                verdict(statistics.median(node_times) < 1.0),
            ],
        ],
    )
    write_result("large_n", text, args.out)
    return text


if __name__ == "__main__":
    main()

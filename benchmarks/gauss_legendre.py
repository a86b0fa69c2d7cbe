"""Gauss-Legendre nodes and weights: idgrad's O(n) rule against numpy's and scipy's.

Measures :func:`idgrad.engine.legendre.gauss_legendre` for ``n = 10^2 .. 10^6``:

* **time**, side by side with ``scipy.special.roots_legendre`` (O(n^2); up to ``--scipy-max``,
  10^4 by default: 10^5 takes minutes) and ``numpy.polynomial.legendre.leggauss`` (O(n^3); up
  to 10^3), interleaved in rounds in one process (:func:`benchmarks._common.compare_times`),
  median over rounds; and the **peak memory** of one call (``tracemalloc``, which sees numpy's
  allocations), per node;
* **accuracy** against an independent reference, :func:`extended_precision_rule` (Newton's
  method on the three-term recurrence in 80-bit extended precision, started from idgrad's
  nodes): every node up to ``n = 10^4``, and at ``10^5`` and ``10^6`` the nodes at both ends,
  around the switch between the expansions and in the middle; nodes as the largest absolute
  error, weights as the largest relative error. Against scipy, where it runs, the same; scipy's
  weights are the less accurate near the ends (see :mod:`idgrad.engine.legendre`).

Targets: ``n = 10^6`` in under a second on this (shared, 2-core) machine, memory O(n), nodes
within ``1e-14`` of scipy for ``n <= 1000``.

Run: ``python -m benchmarks.gauss_legendre [--quick | --smoke] [--scipy-max N]``.
"""

from __future__ import annotations

import argparse
import math
import os
import tracemalloc
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import (
    command_line,
    compare_times,
    fmt_ratio,
    fmt_seconds,
    header,
    markdown_table,
    verdict,
    write_result,
)
from idgrad.engine.legendre import gauss_legendre

__all__ = ["EXTENDED", "accuracy", "angles", "extended_precision_rule", "main", "sample_nodes"]

#: Whether numpy's long double is wider than float64 (80-bit on x86-64 Linux).
EXTENDED = bool(np.finfo(np.longdouble).eps < 1e-18)


def extended_precision_rule(
    n: int, k: np.ndarray | Sequence[int], theta: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``k`` (1-based from ``x = 1``) of the ``n``-point rule and weights, in long double.

    Newton's method in ``theta`` (``x = cos theta``) on ``P_n(cos theta)`` from the three-term
    recurrence, written for ``D_j = P_j - P_{j-1}`` in ``t = 2 sin^2(theta/2)`` so that ``1 - x``
    keeps its relative precision: ``D_{j+1} = (j D_j - (2j+1) t P_j) / (j+1)``,
    ``P_{j+1} = P_j + D_{j+1}``, ``dP_n/dtheta = -n (t P_n - D_n) / sin theta``, until a step is
    below ``1e-17 theta``; that last evaluation gives the weight ``2 / (dP_n/dtheta)^2``. It
    shares nothing with idgrad's asymptotic expansions but the recurrence; it costs O(n) per
    node and step (about 3 s a step at ``n = 10^6``, two steps from float64 nodes).

    Args:
        n: The number of nodes of the rule.
        k: Which nodes, ``1 <= k <= ceil(n/2)`` (the half with ``x >= 0``).
        theta: Starting angles (float64), e.g. ``2 arcsin(sqrt(a_k))`` from the nodes ``a_k`` of
            ``gauss_legendre(n, interval=(0, 1))``; Tricomi's approximation if None.

    Returns:
        ``(x, w)``: long double arrays, ``x_k = cos theta_k`` (descending) and the weights.
    """
    ld = np.longdouble
    kk = np.asarray(k, dtype=ld)
    rho = ld(n) + ld(0.5)
    if theta is None:
        phi = 4 * np.arctan(ld(1)) * (4 * kk - 1) / (4 * ld(n) + 2)
        th = phi + 1 / (8 * rho * rho * np.tan(phi))
    else:
        th = np.asarray(theta, dtype=ld).copy()
    for _ in range(60):
        s = np.sin(th / 2)
        t = 2 * s * s
        d = -t
        p = 1 + d
        for j in range(1, n):
            d = (j * d - (2 * j + 1) * (t * p)) / (j + 1)
            p = p + d
        dp = -n * (t * p - d) / np.sin(th)
        step = p / dp
        th = th - step
        if np.all(np.abs(step) <= 1e-17 * th):
            return np.cos(th), 2 / (dp * dp)
    raise RuntimeError(f"extended_precision_rule: no convergence for n = {n}")


def angles(n: int) -> np.ndarray:
    """``theta_k``, ``k = 1 .. ceil(n/2)``, from idgrad's rule on ``[0, 1]`` (full precision)."""
    a, _ = gauss_legendre(n, interval=(0, 1))
    return 2.0 * np.arcsin(np.sqrt(a[: (n + 1) // 2]))


def sample_nodes(n: int, boundary: int = 10) -> np.ndarray:
    """Node indices to check at large ``n``: both sides of each switch, the ends, the middle."""
    m = (n + 1) // 2
    ks = {1, 2, 3, boundary - 1, boundary, boundary + 1, boundary + 2, 100, 340, 1000, m - 1, m}
    return np.array(sorted(k for k in ks if 1 <= k <= m))


def _half(values: np.ndarray, n: int) -> np.ndarray:
    """The entries for ``x >= 0`` of an ascending rule, ordered from ``x = 1`` (node k = 1)."""
    return values[::-1][: (n + 1) // 2]


def accuracy(n: int, all_nodes: bool, scipy_max: int) -> dict[str, float]:
    """Largest node (absolute) and weight (relative) errors; NaN where not measured.

    Keys: ``x_ref``, ``w_ref`` (against :func:`extended_precision_rule` on all nodes or on
    :func:`sample_nodes`), ``x_scipy``, ``w_scipy`` (all nodes) and ``sum`` (``sum w - 2``).
    """
    x, w = gauss_legendre(n)
    out = dict.fromkeys(("x_ref", "w_ref", "x_scipy", "w_scipy"), math.nan)
    if EXTENDED:
        ks = np.arange(1, (n + 1) // 2 + 1) if all_nodes else sample_nodes(n)
        xr, wr = extended_precision_rule(n, ks, angles(n)[ks - 1])
        xh, wh = _half(x, n)[ks - 1], _half(w, n)[ks - 1]
        out["x_ref"] = float(np.max(np.abs(xh.astype(np.longdouble) - xr)))
        out["w_ref"] = float(np.max(np.abs((wh.astype(np.longdouble) - wr) / wr)))
    if n <= scipy_max:
        from scipy.special import roots_legendre

        xs, ws = roots_legendre(n)
        out["x_scipy"] = float(np.max(np.abs(x - xs)))
        out["w_scipy"] = float(np.max(np.abs(w - ws) / w))
    out["sum"] = math.fsum(w) - 2.0
    return out


def _fmt_error(value: float) -> str:
    return "not run" if math.isnan(value) else f"{value:.1e}"


def _peak_bytes(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def timing_rows(
    sizes: Sequence[int], scipy_max: int, repeats: int
) -> tuple[list[list[Any]], tuple[int, float, float]]:
    """Rows (n, idgrad, scipy, numpy: medians and ratios; idgrad's peak bytes per node) and
    ``(n, seconds, bytes per node)`` of the largest ``n``."""
    from scipy.special import roots_legendre

    rows = []
    for n in sizes:
        contenders: dict[str, Callable[[], Any]] = {"idgrad": partial(gauss_legendre, n)}
        if n <= scipy_max:
            contenders["scipy"] = partial(roots_legendre, n)
        if n <= 1000:
            contenders["numpy"] = partial(np.polynomial.legendre.leggauss, n)
        slow = n > 1000 and len(contenders) > 1
        times = compare_times(
            contenders, reference="idgrad", repeats=2 if slow else repeats, warmup=0 if slow else 1
        )
        cells = [f"{n:,}", fmt_seconds(times.median("idgrad"))]
        for name in ("scipy", "numpy"):
            if name in times:
                cells.append(f"{fmt_seconds(times.median(name))} ({fmt_ratio(times.ratio(name))})")
            else:
                cells.append("not run")
        per_node = _peak_bytes(partial(gauss_legendre, n)) / n
        cells.append(f"{per_node:.0f}")
        rows.append(cells)
        print(" | ".join(cells), flush=True)
    return rows, (n, times.median("idgrad"), per_node)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="n up to 10^5, fewer rounds")
    size.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument(
        "--scipy-max", type=int, default=10_000, help="largest n for scipy (10^5 takes minutes)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    if args.smoke:
        sizes, checked, repeats, scipy_max = [50, 200], [(20, True), (1000, False)], 1, 1000
    elif args.quick:
        sizes = [100, 1000, 10_000, 100_000]
        checked = [(19, True), (20, True), (1000, True), (100_000, False)]
        repeats, scipy_max = 3, min(args.scipy_max, 1000)
    else:
        sizes = [100, 1000, 10_000, 100_000, 1_000_000]
        checked = [(19, True), (20, True), (100, True), (1000, True), (10_000, True)]
        checked += [(100_000, False), (1_000_000, False)]
        repeats, scipy_max = 5, args.scipy_max
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    text = header("Gauss-Legendre rules", command_line("benchmarks.gauss_legendre", argv))
    text += f"Load average (1, 5, 15 min) at the start: {load}\n\n"
    text += (
        "### Time\n\nMedian over rounds, interleaved; in brackets the median ratio to idgrad "
        "in the same round. Peak memory of one idgrad call from `tracemalloc`.\n\n"
    )
    rows, largest = timing_rows(sizes, scipy_max, repeats)
    text += markdown_table(
        ["n", "idgrad", "scipy roots_legendre", "numpy leggauss", "idgrad peak bytes/node"], rows
    )
    text += (
        "\n### Accuracy\n\nAgainst Newton's method on the recurrence in long double "
        "(`extended_precision_rule`): largest absolute node error and relative weight error "
        "over the nodes checked (by symmetry, the half with x >= 0). Against scipy, all nodes; "
        "scipy's weights carry its own error (up to 2e-8 at the ends for n = 1000).\n\n"
    )
    acc, node_errors, weight_errors, reference_errors = [], [], [], []
    for n, all_nodes in checked:
        e = accuracy(n, all_nodes, scipy_max)
        if n <= 1000 and not math.isnan(e["x_scipy"]):
            node_errors.append(e["x_scipy"])
            weight_errors.append(e["w_scipy"])
        if not math.isnan(e["w_ref"]):
            reference_errors.append(e["w_ref"])
        acc.append(
            [f"{n:,}", "all" if all_nodes else f"{len(sample_nodes(n))} sampled"]
            + [_fmt_error(e[key]) for key in ("x_ref", "w_ref", "x_scipy", "w_scipy", "sum")]
        )
        print(" | ".join(acc[-1]), flush=True)
    text += markdown_table(
        [
            "n",
            "nodes checked",
            "nodes vs reference",
            "weights vs reference",
            "nodes vs scipy",
            "weights vs scipy",
            "sum(w) - 2",
        ],
        acc,
    )
    n_top, seconds, per_node = largest
    text += "\n### Against the targets\n\n"
    text += markdown_table(
        ["target", "measured", "verdict"],
        [
            [f"n = {n_top:,} in under 1 s", fmt_seconds(seconds), verdict(seconds < 1.0)],
            [
                "nodes within 1e-14 of scipy, n <= 1000",
                f"{max(node_errors):.1e}" if node_errors else "not run",
                verdict(bool(node_errors) and max(node_errors) <= 1e-14),
            ],
            [
                "weights within 1e-14 (relative) of scipy, n <= 1000",
                f"{max(weight_errors):.1e}" if weight_errors else "not run",
                "not met by scipy: its weights are the less accurate (the reference: "
                + (f"ours within {max(reference_errors):.1e})" if reference_errors else "not run)"),
            ],
            [
                "memory O(n)",
                f"{per_node:.0f} bytes/node at n = {n_top:,} (peak, tracemalloc)",
                "see the time table",
            ],
        ],
    )
    write_result("gauss_legendre", text, args.out)
    return text


if __name__ == "__main__":
    main()

"""Accuracy per cost: attribution error and |delta| against the number of model evaluations.

For each problem, a converged reference, then every method at a ladder of step
counts, through idgrad's public functions (``method.details(...)`` gives the
honest convergence delta and the exact number of model evaluations: gradient
points + forward-only pilot / end points):

* IG with each rule (``riemann_left``, ``_right``, ``_middle``, ``_trapezoid``,
  ``gausslegendre``);
* IDG on the uniform midpoint rule;
* IDG adaptive with its default pilot and with other pilot sizes;
* the seed package's adaptive IDG at its defaults (error only: its delta is
  computed after its rescaling, so it is ~0 by construction).

Problems:

* ``logistic``: ``F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2`` at
  ``x = (1, 1, 1)``, baseline 0, float64 (smooth; the decision is at alpha = 0.8).
* ``digits``: the trained CNN on scikit-learn's 8x8 digits
  (:func:`idgrad.zoo.load_digits_cnn`), 8 test images, predicted class, float64.
* ``efficientnet``: EfficientNet-Lite0 (ImageNet weights) on real photos,
  predicted class, baseline 0 in model space, float32.

References. The reference is computed by an independent evaluator
(:func:`shared_point_sums`) that evaluates a set of points once and accumulates
several weighted sums from them. Midpoint rules with ``n`` and ``3 n`` points
share points (every midpoint of the ``n``-point rule is one of the ``3 n``-point
rule), so a fine midpoint reference also yields the uniform ladder
``n / 3, n / 9, ...`` for free, and its distance to the next coarser level
estimates its own error (errors shrink ~3x per level: reference error ~ half the
gap). The logistic reference is 4096-point Gauss-Legendre (spectrally accurate
on this smooth integrand; checked against 2048 points). The digits reference is
the 6561-point midpoint rule. The EfficientNet reference is a composite midpoint
rule on 16 equal intervals with 81 points each, and 243 or 729 in the intervals
where the logit changes most (by the 16-interval pilot).

Errors are relative L2 errors of the attributions of each example (median over
the examples), and ``|delta| / |F(x) - F(x')|`` (median).

Run: ``python -m benchmarks.accuracy [--quick] [--smoke] [--only logistic,digits,efficientnet]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

import idgrad
from benchmarks._common import RESULTS, command_line, header, markdown_table, verdict, write_result

__all__ = ["Problem", "main", "problems", "shared_point_sums"]

IG_RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


# --------------------------------------------------------------------------- reference


def shared_point_sums(
    model: Callable[..., torch.Tensor],
    x: torch.Tensor,
    target: torch.Tensor | None,
    alphas: np.ndarray,
    weight_sets: dict[str, np.ndarray],
    chunk: int = 64,
) -> dict[str, dict[str, torch.Tensor]]:
    """Evaluate the gradient once at each of ``alphas`` and accumulate several quadratures.

    Baseline 0, the straight path; ``x`` ``(B, ...)``; ``alphas`` ``(P,)`` shared by
    every example; ``weight_sets`` maps a name to ``(P,)`` weights (zero where a
    rule does not use a point). Returns, per name, in float64:
    ``ig`` = ``x * sum_k w_k g_k``, ``idg_raw`` = ``x * sum_k w_k F'_k g_k``,
    ``sum_fp`` = ``sum_k w_k F'_k`` and ``sum_fp2`` = ``sum_k w_k F'_k^2`` (each ``(B,)``).

    This is deliberately written apart from idgrad's integrator: it is the oracle.
    """
    batch = x.shape[0]
    flat_x = x.reshape(batch, -1).to(torch.float64)
    acc = {
        name: {
            "g": torch.zeros_like(flat_x),
            "fg": torch.zeros_like(flat_x),
            "sum_fp": torch.zeros(batch, dtype=torch.float64),
            "sum_fp2": torch.zeros(batch, dtype=torch.float64),
        }
        for name in weight_sets
    }
    for lo in range(0, len(alphas), max(1, chunk // batch)):
        a = torch.as_tensor(alphas[lo : lo + max(1, chunk // batch)], dtype=torch.float64)
        k = a.shape[0]
        pts = (a.to(x.dtype).reshape((k, 1) + (1,) * (x.ndim - 1)) * x.unsqueeze(0)).reshape(
            (k * batch,) + tuple(x.shape[1:])
        )
        pts.requires_grad_(True)
        out = model(pts)
        if target is not None:
            out = out.gather(1, target.repeat(k).unsqueeze(1)).squeeze(1)
        (g,) = torch.autograd.grad(out.sum(), pts)
        g = g.reshape(k, batch, -1).to(torch.float64)
        fp = (g * flat_x.unsqueeze(0)).sum(-1)  # (k, B)
        for name, weights in weight_sets.items():
            w = torch.as_tensor(weights[lo : lo + k], dtype=torch.float64)
            if not bool((w != 0).any()):
                continue
            acc[name]["g"] += torch.einsum("k,kbd->bd", w, g)
            acc[name]["fg"] += torch.einsum("kb,kbd->bd", w.unsqueeze(1) * fp, g)
            acc[name]["sum_fp"] += (w.unsqueeze(1) * fp).sum(0)
            acc[name]["sum_fp2"] += (w.unsqueeze(1) * fp**2).sum(0)
    shape = tuple(x.shape)
    return {
        name: {
            "ig": (v["g"] * flat_x).reshape(shape),
            "idg_raw": (v["fg"] * flat_x).reshape(shape),
            "sum_fp": v["sum_fp"],
            "sum_fp2": v["sum_fp2"],
        }
        for name, v in acc.items()
    }


def _midpoints(lo: float, hi: float, count: int) -> np.ndarray:
    return lo + (hi - lo) * (np.arange(count) + 0.5) / count


def _union_weights(
    rules: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All points of several rules (exact float matches merged) and each rule's weights on them."""
    points = np.unique(np.concatenate([a for a, _ in rules.values()]))
    sets = {}
    for name, (a, w) in rules.items():
        full = np.zeros_like(points)
        idx = np.searchsorted(points, a)
        if not np.allclose(points[idx], a, rtol=0, atol=1e-15):
            raise RuntimeError("point lookup failed")
        np.add.at(full, idx, w)
        sets[name] = full
    return points, sets


# --------------------------------------------------------------------------- problems


@dataclass
class Problem:
    """A model, inputs, targets and the reference attributions (float64)."""

    name: str
    title: str
    model: Callable[..., torch.Tensor]
    x: torch.Tensor
    target: torch.Tensor | None
    ref_ig: torch.Tensor = field(default=torch.empty(0))
    ref_idg: torch.Tensor = field(default=torch.empty(0))
    f_change: torch.Tensor = field(default=torch.empty(0))
    ref_note: str = ""
    free_rows: list[dict[str, Any]] = field(default_factory=list)
    ladder: tuple[int, ...] = ()
    # (label, pilot size for n, neighbour_fraction, ladder of n_steps)
    pilot_variants: tuple[tuple[str, Callable[[int], int], float, tuple[int, ...]], ...] = ()
    uniform_ladder: tuple[int, ...] | None = None
    chunk: int | None = None  # internal_batch_size of every call (memory)
    seed_ladder: tuple[int, ...] = ()
    ig_rules: tuple[str, ...] = IG_RULES


def _normalised_idg(sums: dict[str, torch.Tensor], f_change: torch.Tensor) -> torch.Tensor:
    scale = f_change / sums["sum_fp2"]
    return sums["idg_raw"] * scale.reshape((-1,) + (1,) * (sums["idg_raw"].ndim - 1))


def _rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    a = a.to(torch.float64).flatten(1)
    ref = ref.to(torch.float64).flatten(1)
    return statistics.median(((a - ref).norm(dim=1) / ref.norm(dim=1)).tolist())


def _logistic_model(z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(50 * (z[:, 0] - 0.8)) + 0.05 * z[:, 1] + 0.05 * z[:, 2]


def _end_values(
    model: Callable[..., torch.Tensor], x: torch.Tensor, target: torch.Tensor | None
) -> torch.Tensor:
    with torch.no_grad():
        both = model(torch.cat([torch.zeros_like(x), x]))
        if target is not None:
            both = both.gather(1, target.repeat(2).unsqueeze(1)).squeeze(1)
    b = x.shape[0]
    return (both[b:] - both[:b]).to(torch.float64)


def logistic_problem(level: str) -> Problem:
    x = torch.ones(1, 3, dtype=torch.float64)
    p = Problem(
        "logistic",
        "Logistic model F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2",
        _logistic_model,
        x,
        None,
    )
    p.f_change = _end_values(p.model, x, None)
    fine, coarse = (256, 128) if level == "smoke" else (4096, 2048)
    sums: dict[int, dict[str, torch.Tensor]] = {}
    for n in (fine, coarse):
        a, w = idgrad.schedules.rule_points(n, "gausslegendre")
        sums[n] = shared_point_sums(p.model, x, None, a, {"gl": w}, chunk=4096)["gl"]
    ref, chk = sums[fine], sums[coarse]
    p.ref_ig, p.ref_idg = ref["ig"], _normalised_idg(ref, p.f_change)
    p.ref_note = (
        f"{fine}-point Gauss-Legendre; distance to {coarse} points: IG "
        f"{_rel_err(chk['ig'], p.ref_ig):.1e}, "
        f"IDG {_rel_err(_normalised_idg(chk, p.f_change), p.ref_idg):.1e}"
    )
    _small_problem_ladders(p, level)
    return p


def _small_problem_ladders(p: Problem, level: str) -> None:
    p.ladder = (8, 16) if level == "smoke" else (8, 16, 32, 64, 128, 256, 512)
    mid = p.ladder[1:-1] or p.ladder
    p.pilot_variants = (("default", idgrad.default_pilot_steps, 0.5, p.ladder),)
    if level != "smoke":
        p.pilot_variants += (
            ("N = n/4", lambda n: max(4, n // 4), 0.5, mid),
            ("N = n/2", lambda n: max(4, n // 2), 0.5, mid),
            (
                "previous rule (N = n/4, no neighbour share)",
                lambda n: max(4, n // 4),
                0.0,
                p.ladder,
            ),
        )
    p.seed_ladder = p.ladder[:5]


def digits_problem(level: str) -> Problem:
    from idgrad.zoo import load_digits_cnn

    model, (x_test, _) = load_digits_cnn()
    model = model.double().eval()
    for q in model.parameters():
        q.requires_grad_(False)
    count = 2 if level == "smoke" else 8
    x = x_test[:count].double()
    with torch.no_grad():
        target = model(x).argmax(1)
    p = Problem(
        "digits", f"Digits CNN (scikit-learn 8x8 digits), {count} test images", model, x, target
    )
    p.f_change = _end_values(model, x, target)
    levels = 4 if level == "smoke" else 8  # 3^8 = 6561 midpoints
    fine = 3**levels
    ladder_rules = {
        f"mid{3**k}": (_midpoints(0, 1, 3**k), np.full(3**k, 1 / 3**k))
        for k in range(1, levels + 1)
    }
    points, sets = _union_weights(ladder_rules)
    sums = shared_point_sums(model, x, target, points, sets, chunk=4096)
    _set_reference(p, sums, f"mid{fine}", f"mid{fine // 3}", f"{fine}-point midpoint rule")
    _free_uniform_rows(p, sums, {3**k: f"mid{3**k}" for k in range(1, levels)})
    _small_problem_ladders(p, level)
    return p


def _set_reference(
    p: Problem, sums: dict[str, dict[str, torch.Tensor]], fine: str, coarse: str, what: str
) -> None:
    ref, chk = sums[fine], sums[coarse]
    p.ref_ig, p.ref_idg = ref["ig"], _normalised_idg(ref, p.f_change)
    gap_ig = _rel_err(chk["ig"], p.ref_ig)
    gap_idg = _rel_err(_normalised_idg(chk, p.f_change), p.ref_idg)
    p.ref_note = (
        f"{what}; distance to the next coarser level (3x fewer points per interval): "
        f"IG {gap_ig:.1e}, IDG {gap_idg:.1e} (errors shrink ~3x per level, so the reference "
        "is off by about half that)"
    )


def _free_uniform_rows(
    p: Problem, sums: dict[str, dict[str, torch.Tensor]], names: dict[int, str]
) -> None:
    """Uniform midpoint IG / IDG rows that the reference's points already give."""
    for n, name in sorted(names.items()):
        s = sums[name]
        delta_ig = s["ig"].flatten(1).sum(1) - p.f_change
        delta_idg = s["sum_fp"] - p.f_change
        for method, attr, delta in (
            ("IG riemann_middle", s["ig"], delta_ig),
            ("IDG uniform", _normalised_idg(s, p.f_change), delta_idg),
        ):
            p.free_rows.append(
                {
                    "method": method,
                    "n_steps": n,
                    "evals": n + 2,
                    "err": _rel_err(attr, p.ref_ig if method.startswith("IG") else p.ref_idg),
                    "delta": statistics.median((delta.abs() / p.f_change.abs()).tolist()),
                    "shared": True,
                }
            )


def efficientnet_problem(level: str, photos: Sequence[str], reference_base: int = 81) -> Problem:
    from benchmarks._common import efficientnet, photo_batch

    model = efficientnet()
    names, x = photo_batch(photos)
    with torch.no_grad():
        target = model(x).argmax(1)
    p = Problem(
        "efficientnet", f"EfficientNet-Lite0 224x224, photos: {', '.join(names)}", model, x, target
    )
    p.f_change = _end_values(model, x, target)
    # the reference: 16 intervals, more points where the 16-interval pilot says the logit moves
    n_int = 16
    base = 9 if level == "smoke" else reference_base
    with torch.no_grad():
        grid = torch.linspace(0, 1, n_int + 1, dtype=torch.float64)
        pil = torch.stack(
            [model(a.float() * x).gather(1, target.unsqueeze(1)).squeeze(1) for a in grid], 1
        )
    share = (pil.diff(dim=1).abs() / pil.diff(dim=1).abs().sum(1, keepdim=True)).max(0).values
    counts = [base * (9 if s >= 0.25 else 3 if s >= 0.08 else 1) for s in share.tolist()]
    if level == "smoke":
        counts = [base] * n_int

    def composite(cs: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        a = np.concatenate([_midpoints(j / n_int, (j + 1) / n_int, c) for j, c in enumerate(cs)])
        w = np.concatenate([np.full(c, 1 / (n_int * c)) for c in cs])
        return a, w

    rules = {"ref": composite(counts), "coarse": composite([c // 3 for c in counts])}
    uniform = {}
    k = 1
    while 3**k <= base:
        uniform[n_int * 3**k] = f"mid{n_int * 3**k}"
        rules[f"mid{n_int * 3**k}"] = composite([3**k] * n_int)
        k += 1
    t0 = time.perf_counter()
    points, sets = _union_weights(rules)
    sums = shared_point_sums(model, x, target, points, sets, chunk=16)
    _set_reference(
        p,
        sums,
        "ref",
        "coarse",
        f"composite midpoint rule on 16 intervals with {counts} points ({len(points)} gradient "
        f"evaluations, {time.perf_counter() - t0:.0f} s)",
    )
    _free_uniform_rows(p, sums, uniform)
    p.ig_rules = ("gausslegendre",)
    p.chunk = 16 * x.shape[0]
    p.ladder = (16,) if level == "smoke" else (16, 64, 256)
    p.uniform_ladder = ()  # the uniform midpoint ladder comes with the reference's points
    ladder = (16,) if level == "smoke" else (32, 64, 128, 256, 512)
    p.pilot_variants = (("default", idgrad.default_pilot_steps, 0.5, ladder),)
    if level != "smoke":
        p.pilot_variants += (
            (
                "previous rule (N = n/4, no neighbour share)",
                lambda n: max(4, n // 4),
                0.0,
                ladder[1:],
            ),
        )
    p.seed_ladder = () if level == "smoke" else (32, 64, 128)
    return p


# --------------------------------------------------------------------------- measuring


def _ig_row(p: Problem, rule: str, n: int) -> dict[str, Any]:
    d = idgrad.integrated_gradients.details(
        p.model,
        p.x,
        target=p.target,
        n_steps=n,
        method=rule,
        internal_batch_size=p.chunk,
    )
    return {
        "method": f"IG {rule}",
        "n_steps": n,
        "evals": d.n_evaluations // p.x.shape[0],
        "err": _rel_err(cast(torch.Tensor, d.attributions), p.ref_ig),
        "delta": statistics.median((d.delta.abs() / p.f_change.abs()).tolist()),
    }


def _idg_row(p: Problem, n: int, label: str, **kwargs: Any) -> dict[str, Any]:
    d = idgrad.integrated_decision_gradients.details(
        p.model,
        p.x,
        target=p.target,
        n_steps=n,
        internal_batch_size=p.chunk,
        **kwargs,
    )
    return {
        "method": label,
        "n_steps": n,
        "evals": d.n_evaluations // p.x.shape[0],
        "err": _rel_err(cast(torch.Tensor, d.attributions), p.ref_idg),
        "delta": statistics.median((d.delta.abs() / p.f_change.abs()).tolist()),
    }


def _idg_variant_row(
    p: Problem, n: int, label: str, n_pilot: int, neighbour_fraction: float
) -> dict[str, Any]:
    """Adaptive IDG with another pilot size / allocation, built from idgrad's own layers."""
    from idgrad.integrator import evaluate_path, integrate_path
    from idgrad.schedules import adaptive_schedule
    from idgrad.seam import ModelSeam

    xs, bs = (p.x,), (torch.zeros_like(p.x),)
    seam = ModelSeam.build(p.model, xs, p.target, None)
    grid = torch.linspace(0.0, 1.0, n_pilot + 1, dtype=torch.float64).expand(p.x.shape[0], -1)
    pilot = evaluate_path(seam, xs, bs, grid, p.chunk)
    sched = adaptive_schedule(pilot, n, neighbour_fraction=neighbour_fraction)
    run = integrate_path(seam, xs, bs, sched, p.chunk, lambda v, d: d)
    change = (pilot[:, -1] - pilot[:, 0]).to(torch.float64)
    raw = run.sums[0].to(torch.float64) * p.x.to(torch.float64)
    total = raw.flatten(1).sum(1)
    attr = raw * (change / total).reshape((-1,) + (1,) * (raw.ndim - 1))
    delta = sched.integrate(run.derivatives.to(torch.float64)) - change
    return {
        "method": label,
        "n_steps": n,
        "evals": n + n_pilot + 1,
        "err": _rel_err(attr, p.ref_idg),
        "delta": statistics.median((delta.abs() / p.f_change.abs()).tolist()),
    }


class _CountRows(nn.Module):
    def __init__(self, model: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.rows += int(z.shape[0])
        return self.model(z)


def _seed_row(p: Problem, n: int) -> dict[str, Any] | None:
    try:
        from integrated_decision_gradients import get_integrated_decision_gradients
    except ImportError:
        return None
    counter = _CountRows(p.model)
    attrs = []
    for b in range(p.x.shape[0]):  # one at a time: its schedule is shared by the batch
        t = None if p.target is None else int(p.target[b])
        step_batch = n if p.chunk is None else max(1, p.chunk)
        attrs.append(
            get_integrated_decision_gradients(
                counter, p.x[b : b + 1], target=t, n_steps=n, batch_size=step_batch
            )
        )
    return {
        "method": "seed IDG (defaults)",
        "n_steps": n,
        "evals": counter.rows // p.x.shape[0],
        "err": _rel_err(torch.cat(attrs), p.ref_idg),
        "delta": float("nan"),
    }


def measure(p: Problem) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = list(p.free_rows)
    shared = {(r["method"], r["n_steps"]) for r in rows}
    for rule in p.ig_rules:
        for n in p.ladder:
            if (f"IG {rule}", n) in shared or (rule == "riemann_trapezoid" and n < 2):
                continue
            rows.append(_ig_row(p, rule, n))
    for n in p.ladder if p.uniform_ladder is None else p.uniform_ladder:
        if ("IDG uniform", n) not in shared:
            rows.append(_idg_row(p, n, "IDG uniform", adaptive=False))
    for label, pilot, share, ladder in p.pilot_variants:
        for n in ladder:
            if label == "default" and share == 0.5:
                rows.append(_idg_row(p, n, "IDG adaptive, pilot default", n_pilot_steps=pilot(n)))
            else:
                rows.append(_idg_variant_row(p, n, f"IDG adaptive, {label}", pilot(n), share))
    for n in p.seed_ladder:
        row = _seed_row(p, n)
        if row is not None:
            rows.append(row)
    rows.sort(key=lambda r: (r["method"], r["evals"]))
    return rows


def evals_to_reach(
    rows: list[dict[str, Any]], method: str, level: float = 0.01
) -> tuple[float, str]:
    """Evaluations at which ``method``'s error falls below ``level`` for good.

    Log-log interpolation between the two measured budgets around the crossing.

    Returns ``(evaluations, how)`` with ``how`` "measured", "extrapolated" (power law
    fitted to the last three points) or "not reached".
    """
    pts = sorted((r["evals"], r["err"]) for r in rows if r["method"] == method)
    if not pts:
        return math.nan, "no data"
    last_above = max((i for i, (_, e) in enumerate(pts) if e > level), default=-1)
    if last_above == -1:
        return float(pts[0][0]), "measured (first point)"
    if last_above < len(pts) - 1:
        (e0, r0), (e1, r1) = pts[last_above], pts[last_above + 1]
        t = math.log(r0 / level) / math.log(r0 / r1)
        return math.exp(math.log(e0) + t * math.log(e1 / e0)), "measured"
    tail = pts[-3:]
    if len(tail) < 2:
        return math.nan, "not reached"
    slope, icpt = np.polyfit(np.log([e for e, _ in tail]), np.log([r for _, r in tail]), 1)
    if slope >= 0:
        return math.nan, "not reached"
    return float(math.exp((math.log(level) - icpt) / slope)), f"extrapolated (slope {slope:.2f})"


def plot(p: Problem, rows: list[dict[str, Any]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    methods = sorted({r["method"] for r in rows})
    for m in methods:
        pts = sorted((r["evals"], r["err"], r["delta"]) for r in rows if r["method"] == m)
        style = "-o" if "IDG" in m else "--s"
        axes[0].loglog([e for e, _, _ in pts], [r for _, r, _ in pts], style, ms=4, label=m)
        dl = [(e, d) for e, _, d in pts if not math.isnan(d) and d > 0]
        if dl:
            axes[1].loglog([e for e, _ in dl], [d for _, d in dl], style, ms=4, label=m)
    axes[0].axhline(0.01, color="grey", lw=0.8, ls=":")
    axes[0].set_xlabel("model evaluations per example (gradient + forward-only)")
    axes[0].set_ylabel("relative L2 error of the attributions")
    axes[1].set_xlabel("model evaluations per example")
    axes[1].set_ylabel("|delta| / |F(x) - F(x')|")
    axes[0].legend(fontsize=7)
    fig.suptitle(p.title, fontsize=10)
    fig.tight_layout()
    path = out / f"accuracy_{p.name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def problems(
    level: str, only: Sequence[str], photos: Sequence[str], reference_base: int = 81
) -> list[Callable[[], Problem]]:
    makers: dict[str, Callable[[], Problem]] = {
        "logistic": lambda: logistic_problem(level),
        "digits": lambda: digits_problem(level),
        "efficientnet": lambda: efficientnet_problem(level, photos, reference_base),
    }
    return [makers[name] for name in only]


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="logistic and digits only")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--only", type=str, default=None, help="comma-separated problems")
    parser.add_argument("--photos", type=str, default="chelsea", help="comma-separated photo names")
    parser.add_argument(
        "--reference-base",
        type=int,
        default=81,
        help="EfficientNet reference: midpoints per pilot interval "
        "(a power of 3; x3 or x9 where F moves)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    level = "smoke" if args.smoke else "quick" if args.quick else "full"
    default = "logistic,digits" if level in ("smoke", "quick") else "logistic,digits,efficientnet"
    only = (args.only or default).split(",")
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    text = header("Accuracy per cost", command_line("benchmarks.accuracy", argv))
    text += (
        "\nRelative L2 error of the attributions against a converged reference and the honest "
        "convergence delta, against model evaluations per example (gradient points + forward-only "
        "pilot / end points, as counted by `Details.n_evaluations`). Rows marked * share the "
        "reference's points (uniform midpoint rules nest), computed by the reference evaluator.\n"
    )
    summary: list[list[Any]] = []
    for make in problems(level, only, args.photos.split(","), args.reference_base):
        t0 = time.perf_counter()
        p = make()
        rows = measure(p)
        png = plot(p, rows, out)
        elapsed = time.perf_counter() - t0
        text += f"\n### {p.title}\n\nReference: {p.ref_note}. Time: {elapsed:.0f} s.\n\n"
        text += f"![accuracy per cost, {p.name}]({png.name})\n\n"
        text += markdown_table(
            ["method", "n_steps", "evaluations", "rel. L2 error", "abs(delta) / abs(F(x) - F(x'))"],
            [
                [
                    r["method"] + (" *" if r.get("shared") else ""),
                    r["n_steps"],
                    r["evals"],
                    f"{r['err']:.2e}",
                    "n/a" if math.isnan(r["delta"]) else f"{r['delta']:.1e}",
                ]
                for r in rows
            ],
        )
        for method in (
            "IDG uniform",
            "IDG adaptive, pilot default",
            "IDG adaptive, previous rule (N = n/4, no neighbour share)",
            "seed IDG (defaults)",
            "IG gausslegendre",
            "IG riemann_middle",
        ):
            e, how = evals_to_reach(rows, method)
            summary.append([p.name, method, "-" if math.isnan(e) else f"{e:.0f}", how])
        print(text[-3000:], flush=True)
        if p.name == "efficientnet":
            u, _ = evals_to_reach(rows, "IDG uniform")
            a, _ = evals_to_reach(rows, "IDG adaptive, pilot default")
            ratio = a / u if not (math.isnan(u) or math.isnan(a)) else math.nan
            outcome = "undetermined" if math.isnan(ratio) else verdict(ratio <= 0.25)
            text += (
                "\nTarget: adaptive IDG reaches 1% with <= 1/4 of the evaluations uniform IDG "
                f"needs: {a:.0f} / {u:.0f} = {ratio:.2f} ({outcome}).\n"
            )
    text += "\n### Evaluations per example to reach 1% relative error\n\n"
    text += markdown_table(["problem", "method", "evaluations", "how"], summary)
    write_result("accuracy", text, out)
    return text


if __name__ == "__main__":
    main()

"""Accuracy per cost: every schedule of IG and IDG against converged references.

Workloads (each example's attributions are compared with its reference; errors are
relative L2 over every feature):

* ``logistic``: ``F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2`` at ``x = (1, 1, 1)``,
  baseline 0, float64 (smooth, the decision at alpha = 0.8);
* ``digits``: the CNN trained on scikit-learn's 8x8 digits (ReLU: a piecewise constant
  integrand), 8 test images, predicted class, float64;
* ``minilm``: layer attribution on all-MiniLM-L6-v2's word embeddings (GELU, smooth), the
  6 explanations of ``examples/text_minilm.py``, float64;
* ``efficientnet``: EfficientNet-Lite0 (ReLU6) on every photo :mod:`idgrad.zoo` lists,
  predicted class, baseline 0 in model space, float32;
* ``smooth``: a small float64 CNN with analytic activations (tanh, softplus), random
  weights, 4 random images, predicted class (Gauss-Legendre converges spectrally here).

Schedules, each at a ladder of budgets (evaluations per example count every model call:
gradient points, forward-only pilot and end points):

* ``IG uniform`` (``schedule="uniform"``: Gauss-Legendre, IG's default) and ``IG graded``;
* ``IDG uniform`` (Gauss-Legendre), ``IDG pilot`` (``schedule="pilot"``: the paper's
  schedule, a forward-only pilot, midpoints inside its intervals) and ``IDG graded``
  (``schedule="graded"``, IDG's default, :mod:`idgrad.engine.schedules.graded`);
* ``rtol`` runs of the graded schedule (IG and IDG): what the tolerance API spends and
  whether its estimate holds.

References are made apart from idgrad's schedule code, by plain loops over points:
``logistic`` 4096-point Gauss-Legendre (numpy's nodes), ``digits`` the 59049-point
midpoint rule (its nested 19683-point rule gives its own error), ``minilm`` 256-point
Gauss-Legendre through a forward hook of the benchmark's own, ``efficientnet`` the
nested graded pair of :mod:`benchmarks.references`. Each reference states its own error.

Results of every (workload, schedule, budget) are cached under ``benchmarks/cache`` (a
rerun only computes what is missing; ``--fresh`` recomputes), the report is
``results/accuracy.md`` with one plot per workload.

Targets (issue 20): at every budget from 16 to 512, graded IG and IDG at least as accurate
as uniform Gauss-Legendre at equal evaluations (median over examples, within 10%, errors
below 1e-9 equal); the estimate >= the true error in >= 90% of (example, budget) pairs and
within 3x in >= 80%; ``rtol=0.01`` on the 10 photos: true error <= 1% on every photo at a
median cost <= 2x the cheapest fixed graded budget that reaches 1% on that photo.

Run: ``python -m benchmarks.accuracy [--only logistic,digits,minilm,efficientnet,smooth]
[--photos chelsea,...] [--quick] [--smoke]``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import idgrad
from benchmarks._common import RESULTS, command_line, header, markdown_table, write_result
from benchmarks.references import CACHE

__all__ = ["SCHEDULES", "Workload", "evals_to_reach", "main", "shared_point_sums"]

#: name -> (method, options); the budget goes to ``n_steps`` (or ``rtol``)
SCHEDULES: dict[str, tuple[str, dict[str, Any]]] = {
    "IG uniform": ("ig", {"schedule": "uniform", "rule": "gausslegendre"}),
    "IG graded": ("ig", {"schedule": "graded"}),
    "IDG uniform": ("idg", {"schedule": "uniform", "rule": "gausslegendre"}),
    "IDG pilot": ("idg", {"schedule": "pilot"}),
    "IDG graded": ("idg", {"schedule": "graded"}),
}
#: Budgets from 16 to 512 (every workload of the targets).
LADDER: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
#: Floor of the error comparisons: errors below it count as equal.
EQUAL_BELOW = 1e-9


# --------------------------------------------------------------------------- the oracle


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
    step = max(1, chunk // batch)
    for lo in range(0, len(alphas), step):
        a = torch.as_tensor(alphas[lo : lo + step], dtype=torch.float64)
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


def _normalised(raw: torch.Tensor, change: torch.Tensor, fp2: torch.Tensor) -> torch.Tensor:
    return raw * (change / fp2).reshape((-1,) + (1,) * (raw.ndim - 1))


def _gl(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2


def _midpoints(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


# --------------------------------------------------------------------------- workloads


@dataclass
class Workload:
    """Examples, how to run a schedule on them, and the references."""

    name: str
    title: str
    #: (method, kwargs) -> per example: (attributions flattened float64, evaluations, estimate)
    run: Callable[[str, dict[str, Any]], list[tuple[torch.Tensor, int, float]]]
    ref_ig: torch.Tensor  # (B, D) float64, flattened
    ref_idg: torch.Tensor
    ref_note: str
    examples: list[str]
    ladders: dict[str, tuple[int, ...]]
    rtols: tuple[float, ...]
    levels: tuple[float, ...] = (1e-2, 1e-4)
    rtol_methods: tuple[str, ...] = ("ig", "idg")
    rtol_cap: int | None = None  # max_evaluations of the rtol runs (None: the library's)
    rtol_examples: tuple[str, ...] | None = None  # the examples the rtol runs cover (None: all)
    #: one example at a time (each cached on its own): (index, method, kwargs) -> result
    run_one: Callable[[int, str, dict[str, Any]], tuple[torch.Tensor, int, float]] | None = None


def _end_change(model: Callable[..., torch.Tensor], x: torch.Tensor, target: Any) -> torch.Tensor:
    with torch.no_grad():
        both = model(torch.cat([torch.zeros_like(x), x]))
        if target is not None:
            both = both.gather(1, target.repeat(2).unsqueeze(1)).squeeze(1)
    b = x.shape[0]
    return (both[b:] - both[:b]).to(torch.float64)


def _logistic_model(z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(50 * (z[:, 0] - 0.8)) + 0.05 * z[:, 1] + 0.05 * z[:, 2]


def _per_example(d: Any) -> list[tuple[torch.Tensor, int, float]]:
    """Split a details object into per-example (attributions, evaluations, estimate)."""
    attr = d.attributions
    parts = attr if isinstance(attr, (tuple, list)) else (attr,)
    batch = parts[0].shape[0]
    flat = torch.cat([p.reshape(batch, -1).to(torch.float64) for p in parts], 1)
    evals = d.evaluations.tolist()
    est = d.error.tolist() if isinstance(d, idgrad.GradedDetails) else [math.nan] * batch
    return [(flat[b], int(evals[b]), float(est[b])) for b in range(batch)]


def _image_runner(model: Any, x: torch.Tensor, target: Any, chunk: Any) -> Callable[..., Any]:
    def run(method: str, kwargs: dict[str, Any]) -> list[tuple[torch.Tensor, int, float]]:
        fn = idgrad.integrated_gradients if method == "ig" else idgrad.integrated_decision_gradients
        return _per_example(
            fn.details(model, x, target=target, internal_batch_size=chunk, **kwargs)
        )

    return run


def logistic_workload(level: str) -> Workload:
    x = torch.ones(1, 3, dtype=torch.float64)
    change = _end_change(_logistic_model, x, None)
    sums = {
        n: shared_point_sums(_logistic_model, x, None, _gl(n)[0], {"r": _gl(n)[1]}, 4096)
        for n in (2048, 4096)
    }
    ref, chk = sums[4096]["r"], sums[2048]["r"]
    ref_idg = _normalised(ref["idg_raw"], change, ref["sum_fp2"])
    chk_idg = _normalised(chk["idg_raw"], change, chk["sum_fp2"])
    note = (
        "4096-point Gauss-Legendre (numpy's nodes, the benchmark's own loop); distance to "
        f"2048 points: IG {_rel(chk['ig'], ref['ig']).max():.1e}, "
        f"IDG {_rel(chk_idg, ref_idg).max():.1e}"
    )
    ladder: tuple[int, ...] = (8, 12, *LADDER)
    if level == "smoke":
        ladder = (8, 16)
    return Workload(
        "logistic",
        "Logistic model F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2, float64",
        _image_runner(_logistic_model, x, None, None),
        ref["ig"].reshape(1, -1),
        ref_idg.reshape(1, -1),
        note,
        ["x = (1, 1, 1)"],
        {name: ladder for name in SCHEDULES},
        () if level == "smoke" else (1e-2, 1e-4, 1e-6),
    )


def digits_workload(level: str) -> Workload:
    from idgrad.zoo import load_digits_cnn

    model, (x_test, _) = load_digits_cnn()
    model = model.double().eval()
    for q in model.parameters():
        q.requires_grad_(False)
    count = 2 if level == "smoke" else 8
    x = x_test[:count].double()
    with torch.no_grad():
        target = model(x).argmax(1)
    change = _end_change(model, x, target)
    fine = 3**6 if level == "smoke" else 3**10
    key = f"digits_reference_{count}_{fine}" + ("_smoke" if level == "smoke" else "")
    cached = _load(key)
    if cached is None:
        t0 = time.perf_counter()
        a = _midpoints(fine)
        coarse = np.zeros(fine)
        coarse[1::3] = 3.0 / fine  # the nested rule with fine / 3 midpoints
        sums = shared_point_sums(
            model, x, target, a, {"f": np.full(fine, 1 / fine), "c": coarse}, 4096
        )
        cached = {
            k: sums[s][v].tolist()
            for s in ("f", "c")
            for v in ("ig", "idg_raw", "sum_fp2")
            for k in [f"{s}_{v}"]
        }
        cached["seconds"] = time.perf_counter() - t0
        _save(key, cached)
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in cached.items() if k != "seconds"}
    ref_idg = _normalised(t["f_idg_raw"], change, t["f_sum_fp2"])
    chk_idg = _normalised(t["c_idg_raw"], change, t["c_sum_fp2"])
    note = (
        f"{fine}-point midpoint rule (the benchmark's own loop, {cached['seconds']:.0f} s); "
        f"distance to its nested {fine // 3}-point rule: IG "
        f"{float(_rel(t['c_ig'], t['f_ig']).max()):.1e}, IDG "
        f"{float(_rel(chk_idg, ref_idg).max()):.1e} (max over the images; the error falls ~3x "
        "per level on this piecewise constant integrand, so the reference is off by about "
        "half of that)"
    )
    ladder: tuple[int, ...] = LADDER
    if level == "smoke":
        ladder = (8, 16)
    return Workload(
        "digits",
        f"Digits CNN (scikit-learn 8x8 digits, ReLU), {count} test images, float64",
        _image_runner(model, x, target, 4096),
        t["f_ig"].reshape(count, -1),
        ref_idg.reshape(count, -1),
        note,
        [f"test image {i}" for i in range(count)],
        {name: ladder for name in SCHEDULES},
        () if level == "smoke" else (1e-2, 1e-3, 1e-4),
        levels=(1e-2, 1e-3, 1e-4),
    )


def minilm_workload(level: str) -> Workload:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import text_minilm as tm

    lm = tm.load_minilm(torch.float64)
    for q in lm.model.parameters():
        q.requires_grad_(False)
    tasks: list[tuple[str, torch.nn.Module, Any]] = []
    for first, second in tm.PAIRS:
        model = tm.Similarity(lm, tm.encode(lm, [second])[0])
        tasks.append((f"similarity: {first}", model, tm.tokenize(lm, [first])))
    head = tm.train_sentiment_head(lm)
    sentiment = tm.Sentiment(lm, head)
    for sentence in tm.TEST:
        tasks.append((f"sentiment: {sentence}", sentiment, tm.tokenize(lm, [sentence])))
    if level == "smoke":
        tasks = tasks[:1]
    n_ref = 64 if level == "smoke" else 256
    key = f"minilm_reference_{len(tasks)}_{n_ref}" + ("_smoke" if level == "smoke" else "")
    cached = _load(key)
    if cached is None:
        t0 = time.perf_counter()
        cached = {"ig": [], "idg": [], "ig_chk": [], "idg_chk": []}
        for _, task_model, enc in tasks:
            for n, suffix in ((n_ref, ""), (n_ref // 2, "_chk")):
                ig, idg = _layer_reference(task_model, lm.embeddings, enc, *_gl(n))
                cached["ig" + suffix].append(ig.tolist())
                cached["idg" + suffix].append(idg.tolist())
        cached["seconds"] = time.perf_counter() - t0
        _save(key, cached)
    ref_ig = [torch.tensor(v, dtype=torch.float64) for v in cached["ig"]]
    ref_idg = [torch.tensor(v, dtype=torch.float64) for v in cached["idg"]]
    gap_ig = max(float(_rel1(torch.tensor(c), r)) for c, r in zip(cached["ig_chk"], ref_ig))
    gap_idg = max(float(_rel1(torch.tensor(c), r)) for c, r in zip(cached["idg_chk"], ref_idg))
    note = (
        f"{n_ref}-point Gauss-Legendre on the word-embedding path (numpy's nodes, a forward hook "
        f"and loop of the benchmark's own, {cached['seconds']:.0f} s); distance to "
        f"{n_ref // 2} points: IG {gap_ig:.1e}, IDG {gap_idg:.1e} (max over the explanations)"
    )

    def run(method: str, kwargs: dict[str, Any]) -> list[tuple[torch.Tensor, int, float]]:
        fn = (
            idgrad.layer_integrated_gradients
            if method == "ig"
            else idgrad.layer_integrated_decision_gradients
        )
        out = []
        for _, task_model, enc in tasks:
            d = fn.details(
                task_model,
                lm.embeddings,
                enc.input_ids,
                baselines=enc.baseline_ids,
                additional_forward_args=(enc.attention_mask,),
                internal_batch_size=64,
                **kwargs,
            )
            out.extend(_per_example(d))
        return out

    ladder: tuple[int, ...] = LADDER
    if level == "smoke":
        ladder = (8, 16)
    return Workload(
        "minilm",
        "MiniLM (all-MiniLM-L6-v2, GELU) layer attribution on the word embeddings, "
        f"{len(tasks)} explanations of examples/text_minilm.py, float64",
        run,
        ref_ig,  # type: ignore[arg-type]  # one flat vector per explanation (lengths differ)
        ref_idg,  # type: ignore[arg-type]
        note,
        [name for name, _, _ in tasks],
        {name: ladder for name in SCHEDULES},
        () if level == "smoke" else (1e-2, 1e-4),
    )


def smooth_model() -> torch.nn.Module:
    """A small float64 CNN with analytic activations (tanh, softplus), random weights."""
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.Softplus(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    ).double()
    with torch.no_grad():
        for q in net.parameters():
            q.copy_(0.5 * torch.randn(q.shape, generator=g, dtype=torch.float64))
            q.requires_grad_(False)
    return net.eval()


def smooth_workload(level: str) -> Workload:
    model = smooth_model()
    count = 2 if level == "smoke" else 4
    x = torch.rand(
        count, 3, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    with torch.no_grad():
        target = model(x).argmax(1)
    change = _end_change(model, x, target)
    sums = {n: shared_point_sums(model, x, target, *_gl_pair(n), 4096) for n in (512, 1024)}
    ref, chk = sums[1024]["r"], sums[512]["r"]
    ref_idg = _normalised(ref["idg_raw"], change, ref["sum_fp2"])
    chk_idg = _normalised(chk["idg_raw"], change, chk["sum_fp2"])
    note = (
        "1024-point Gauss-Legendre (numpy's nodes, the benchmark's own loop); distance to "
        f"512 points: IG {_rel(chk['ig'], ref['ig']).max():.1e}, "
        f"IDG {_rel(chk_idg, ref_idg).max():.1e}"
    )
    ladder = (8, 16) if level == "smoke" else LADDER
    return Workload(
        "smooth",
        f"Smooth CNN (tanh, softplus; random weights), {count} random 16x16 images, float64",
        _image_runner(model, x, target, 4096),
        ref["ig"].reshape(count, -1),
        ref_idg.reshape(count, -1),
        note,
        [f"image {i}" for i in range(count)],
        {name: ladder for name in SCHEDULES},
        () if level == "smoke" else (1e-2, 1e-6),
        levels=(1e-2, 1e-6),
    )


def _gl_pair(n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    a, w = _gl(n)
    return a, {"r": w}


def _layer_reference(
    model: Any, layer: torch.nn.Module, enc: Any, alphas: np.ndarray, weights: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """IG and normalised IDG of the layer's output along the straight activation path.

    The benchmark's own loop: the layer's output is replaced (a forward hook) by
    ``a' + alpha (a - a')`` for a batch of alphas, and ``d F / d activation`` taken there.
    """
    ids, base, mask = enc.input_ids, enc.baseline_ids, enc.attention_mask
    with torch.no_grad():
        act_x, act_b = layer(ids), layer(base)
        f_x, f_b = model(ids, mask), model(base, mask)
    diff = (act_x - act_b).to(torch.float64)
    g_sum = torch.zeros_like(diff[0])
    fg_sum = torch.zeros_like(diff[0])
    fp2 = 0.0
    for lo in range(0, len(alphas), 32):
        a = torch.as_tensor(alphas[lo : lo + 32], dtype=torch.float64)
        w = torch.as_tensor(weights[lo : lo + 32], dtype=torch.float64)
        k = len(a)
        acts = (act_b + a.reshape(-1, 1, 1).to(act_b.dtype) * (act_x - act_b)).requires_grad_(True)
        handle = layer.register_forward_hook(lambda m, i, o, acts=acts: acts)
        try:
            out = model(ids.repeat(k, 1), mask.repeat(k, 1))
        finally:
            handle.remove()
        (g,) = torch.autograd.grad(out.sum(), acts)
        g = g.to(torch.float64)
        fp = (g * diff).flatten(1).sum(1)
        g_sum += (w.reshape(-1, 1, 1) * g).sum(0)
        fg_sum += ((w * fp).reshape(-1, 1, 1) * g).sum(0)
        fp2 += float((w * fp**2).sum())
    ig = (g_sum * diff[0]).flatten()
    change = float(f_x[0] - f_b[0])
    idg = (fg_sum * diff[0]).flatten() * (change / fp2)
    return ig, idg


#: EfficientNet photos of the ``rtol`` runs (``--rtol-photos``; "all": every photo). One
#: costs up to ``rtol_cap`` gradient points: 625-3457 (3032 s for all 10 on a shared 2-core
#: machine, load ~2), so a quicker run can name a few.
RTOL_PHOTOS = "all"


def efficientnet_workload(
    level: str, photos: Sequence[str], rtol_photos: Sequence[str] | None = None
) -> Workload:
    from benchmarks._common import efficientnet, photo_batch
    from benchmarks.references import efficientnet_reference

    model = efficientnet()
    refs = []
    for photo in photos:
        ref = efficientnet_reference(photo, compute=level != "smoke")
        if ref is None:
            raise SystemExit(
                f"no cached reference for {photo}: run python -m benchmarks.references"
            )
        refs.append(ref)
    names, x = photo_batch(list(photos))
    target = torch.tensor([r.target for r in refs])
    note = (
        "the nested graded midpoint pair of benchmarks/references.py per photo ("
        + ", ".join(
            f"{r.name.split('_', 1)[1]}: {r.points} points, IG {r.ig_gap:.1e}, IDG {r.idg_gap:.1e}"
            for r in refs
        )
        + "; the numbers are the fine-coarse distances, the error is ~1/2.8 of them)"
    )

    def run_one(b: int, method: str, kwargs: dict[str, Any]) -> tuple[torch.Tensor, int, float]:
        """One photo (memory; its graded nodes are its own anyway)."""
        fn = idgrad.integrated_gradients if method == "ig" else idgrad.integrated_decision_gradients
        d = fn.details(
            model, x[b : b + 1], target=target[b : b + 1], internal_batch_size=16, **kwargs
        )
        return _per_example(d)[0]

    def run(method: str, kwargs: dict[str, Any]) -> list[tuple[torch.Tensor, int, float]]:
        return [run_one(b, method, kwargs) for b in range(len(names))]

    # EfficientNet points are expensive (~0.2 s each on a busy 2-core machine): IDG's graded
    # ladder reaches 512 so that the cheapest fixed budget reaching 1% (the rtol target's
    # yardstick) is bracketed; the others are there to compare at equal cost.
    ladders = {
        "IG uniform": (16, 32, 64, 128, 256),
        "IG graded": (64, 256),
        "IDG uniform": (64, 128, 256),
        "IDG pilot": (128,),
        "IDG graded": (64, 128, 256, 512),
    }
    if level == "smoke":
        ladders = {k: (16,) for k in ladders}
    return Workload(
        "efficientnet",
        f"EfficientNet-Lite0 (ReLU6) 224x224, predicted class, baseline 0: {', '.join(names)}",
        run,
        torch.stack([torch.as_tensor(r.ig) for r in refs]),
        torch.stack([torch.as_tensor(r.idg) for r in refs]),
        note,
        list(names),
        ladders,
        () if level == "smoke" else (1e-2,),
        levels=(1e-2,),
        rtol_methods=("idg",),
        rtol_cap=4096,  # so that rtol=0.01 can be reached on every photo
        rtol_examples=None if rtol_photos is None else tuple(rtol_photos),
        run_one=run_one,
    )


# --------------------------------------------------------------------------- measuring


def _rel(a: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    a = a.to(torch.float64).flatten(1)
    ref = ref.to(torch.float64).flatten(1)
    return (a - ref).norm(dim=1) / ref.norm(dim=1)


def _rel1(a: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (a.to(torch.float64) - ref).norm() / ref.norm()


def _load(key: str) -> Any:
    path = CACHE / f"{key}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _save(key: str, value: Any) -> None:
    if "smoke" in key:  # the smoke run (tests) leaves nothing behind
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f"{key}.tmp"
    tmp.write_text(json.dumps(value))
    tmp.replace(CACHE / f"{key}.json")


def code_digest(sources: Sequence[str]) -> str:
    r"""A hash of Python sources' code: their syntax trees without docstrings (or comments),
    so cached results follow every change of the code and none of its documentation.

    Example:
        >>> code_digest(['def f():\n    "doc"\n    return 1  # one']) == code_digest(
        ...     ["def f():\n    return 1"]
        ... )
        True
    """
    dumps = []
    for source in sources:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        dumps.append(ast.dump(tree))
    return hashlib.sha256("\n".join(dumps).encode()).hexdigest()[:8]


def _graded_code() -> str:
    """:func:`code_digest` of the graded schedule's modules (cached results follow them)."""
    import idgrad.engine.estimate
    import idgrad.engine.maps
    import idgrad.engine.schedules.graded
    import idgrad.engine.schedules.probe

    modules = (
        idgrad.engine.schedules.graded,
        idgrad.engine.schedules.probe,
        idgrad.engine.maps,
        idgrad.engine.estimate,
    )
    return code_digest([Path(m.__file__).read_text() for m in modules if m.__file__])


def measure(w: Workload, fresh: bool, version: str) -> list[dict[str, Any]]:
    """Every (schedule, budget) and every rtol, per example; cached per workload and run."""
    digest = hashlib.sha256("|".join(w.examples).encode()).hexdigest()[:8]
    key = f"accuracy_{w.name}_{version}_{len(w.examples)}_{digest}"
    if w.run_one is not None:
        key = f"accuracy_{w.name}_{version}"  # cached per example
    store = {} if fresh else (_load(key) or {})
    rows: list[dict[str, Any]] = []

    def record(label: str, method: str, kwargs: dict[str, Any], budget: Any) -> None:
        tag = f"{label}|{budget}"
        if "graded" in label or "rtol" in label:  # results follow the graded schedule's code
            tag += f"|{_graded_code()}"
        if w.run_one is not None:  # one example at a time, each cached on its own
            ref = w.ref_ig if method == "ig" else w.ref_idg
            for b, ex in enumerate(w.examples):
                if label.endswith("rtol") and ex not in (w.rtol_examples or w.examples):
                    continue
                one = f"{tag}|{ex}"
                if one not in store:
                    t0 = time.perf_counter()
                    attr, evals, est = w.run_one(b, method, kwargs)
                    store[one] = {
                        "example": ex,
                        "evals": evals,
                        "err": float(_rel1(attr, ref[b])),
                        "est": est,
                    }
                    store[one + "|seconds"] = time.perf_counter() - t0
                    _save(key, store)
                    print(f"  {w.name}: {one} ({store[one + '|seconds']:.0f} s)", flush=True)
                rows.append(
                    {"schedule": label, "budget": budget, "rtol": kwargs.get("rtol"), **store[one]}
                )
            return
        if tag not in store:
            t0 = time.perf_counter()
            res = w.run(method, kwargs)
            ref = w.ref_ig if method == "ig" else w.ref_idg
            store[tag] = [
                {
                    "example": w.examples[b],
                    "evals": evals,
                    "err": float(_rel1(attr, ref[b])),
                    "est": est,
                }
                for b, (attr, evals, est) in enumerate(res)
            ]
            store[tag + "|seconds"] = time.perf_counter() - t0
            _save(key, store)
            print(f"  {w.name}: {tag} ({store[tag + '|seconds']:.0f} s)", flush=True)
        for r in store[tag]:
            rows.append({"schedule": label, "budget": budget, "rtol": kwargs.get("rtol"), **r})

    for label, (method, opts) in SCHEDULES.items():
        for n in w.ladders.get(label, ()):
            record(label, method, {**opts, "n_steps": n}, n)
    for method in w.rtol_methods:
        for rtol in w.rtols:
            if w.rtol_cap is None:
                record(f"{method.upper()} rtol", method, {"rtol": rtol}, rtol)
            else:
                kwargs = {"rtol": rtol, "max_evaluations": w.rtol_cap}
                record(f"{method.upper()} rtol", method, kwargs, f"{rtol}, cap {w.rtol_cap}")
    return rows


def evals_to_reach(points: Sequence[tuple[float, float]], level: float) -> float:
    """Evaluations at which the error falls below ``level`` for good (log-log interpolation).

    ``points`` are (evaluations, error) of one example on one schedule. Returns NaN when
    the last point is still above ``level``.

    Example:
        >>> round(evals_to_reach([(10, 0.1), (100, 0.001)], 0.01))
        32
    """
    pts = sorted(points)
    last_above = max((i for i, (_, e) in enumerate(pts) if e > level), default=-1)
    if last_above == -1:
        return float(pts[0][0])
    if last_above == len(pts) - 1:
        return math.nan
    (e0, r0), (e1, r1) = pts[last_above], pts[last_above + 1]
    if r1 <= 0:
        return float(e1)
    t = math.log(r0 / level) / math.log(r0 / r1)
    return math.exp(math.log(e0) + t * math.log(e1 / e0))


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    if len(finite) < len(values):  # a NaN means "beyond the ladder": the median may be too
        finite += [math.inf] * (len(values) - len(finite))
    return statistics.median(finite) if finite else math.nan


def _fmt_evals(v: float) -> str:
    return "beyond the ladder" if math.isinf(v) or math.isnan(v) else f"{v:.0f}"


def summarize(w: Workload, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per schedule: evaluations to each level (median over examples, and per example)."""
    out: dict[str, Any] = {}
    for label in SCHEDULES:
        mine = [r for r in rows if r["schedule"] == label]
        if not mine:
            continue
        per_example = {}
        for ex in w.examples:
            pts = [(r["evals"], r["err"]) for r in mine if r["example"] == ex]
            per_example[ex] = {lv: evals_to_reach(pts, lv) for lv in w.levels}
        out[label] = {
            "median": {lv: _median([per_example[ex][lv] for ex in w.examples]) for lv in w.levels},
            "per_example": per_example,
        }
    return out


def reliability(rows: list[dict[str, Any]], floor: float = 0.0) -> tuple[int, float, float]:
    """How often the graded estimate bounds the true error, and is within 3x of it.

    With ``floor``, both are raised to it first (errors below it count as equal).
    """
    est = [
        (max(r["est"], floor), max(r["err"], floor))
        for r in rows
        if not math.isnan(r["est"]) and max(r["err"], floor) > 0
    ]
    if not est:
        return 0, math.nan, math.nan
    bounds = sum(e >= t for e, t in est) / len(est)
    within = sum(t / 3 <= e <= 3 * t for e, t in est) / len(est)
    return len(est), bounds, within


def graded_against_uniform(rows: dict[str, list[dict[str, Any]]]) -> str:
    """Per workload, method and budget: median over examples of graded / uniform error.

    Both at ``n_steps + 2`` evaluations; errors below :data:`EQUAL_BELOW` count as equal.
    """
    text = (
        "\n### Graded against uniform Gauss-Legendre at equal evaluations\n\n"
        "Median over the examples of (graded error) / (uniform error) at the same `n_steps` "
        f"(both `n_steps + 2` evaluations), each error raised to {EQUAL_BELOW:g} first; the "
        "target is <= 1.1 at every budget from 16 to 512.\n\n"
    )
    table = []
    for name, rs in rows.items():
        for method in ("IG", "IDG"):
            by = {}
            for r in rs:
                if r["schedule"] in (f"{method} graded", f"{method} uniform"):
                    by[(r["schedule"].split()[1], r["budget"], r["example"])] = r["err"]
            budgets = sorted({b for kind, b, _ in by if kind == "graded" and b >= 16})
            ratios = []
            for b in budgets:
                pairs = [
                    max(by[("graded", b, ex)], EQUAL_BELOW)
                    / max(by[("uniform", b, ex)], EQUAL_BELOW)
                    for kind, bb, ex in list(by)
                    if kind == "graded" and bb == b and ("uniform", b, ex) in by
                ]
                if pairs:
                    ratios.append((b, statistics.median(pairs)))
            if not ratios:
                continue
            worst = max(v for _, v in ratios)
            cells = " ".join(f"{b}:{v:.2f}" for b, v in ratios)
            verdict = "met" if worst <= 1.1 else "**missed**"
            table.append([name, method, cells, f"{worst:.2f}", verdict])
    text += markdown_table(
        ["workload", "method", "n_steps: median ratio", "worst", "<= 1.1 everywhere"], table
    )
    return text


def rtol_cost(rows: list[dict[str, Any]]) -> str:
    """``rtol`` runs photo by photo: true error, cost, and the cheapest fixed graded budget."""
    tol = [r for r in rows if r["schedule"] == "IDG rtol"]
    if not tol:
        return ""
    text = (
        "\n### `rtol=0.01` against the cheapest fixed budget (EfficientNet-Lite0, IDG)\n\n"
        "The cheapest fixed budget is where the graded schedule's error on that photo falls "
        "below 1% for good, interpolated on its ladder (log-log); the target is a true error "
        "<= 1% on every photo at a median cost <= 2x that budget.\n\n"
    )
    table, ratios = [], []
    for r in tol:
        pts = [
            (q["evals"], q["err"])
            for q in rows
            if q["schedule"] == "IDG graded" and q["example"] == r["example"]
        ]
        cheapest = evals_to_reach(pts, 0.01) if pts else math.nan
        ratio = r["evals"] / cheapest if cheapest and not math.isnan(cheapest) else math.nan
        ratios.append(ratio)
        table.append(
            [
                r["example"],
                r["evals"],
                f"{r['err']:.2%}",
                f"{r['est']:.2%}",
                _fmt_evals(cheapest),
                f"{ratio:.2f}",
                "yes" if r["err"] <= 0.01 else "**no**",
            ]
        )
    text += markdown_table(
        [
            "photo",
            "evaluations",
            "true error",
            "estimate",
            "cheapest fixed budget to 1%",
            "cost ratio",
            "true error <= 1%",
        ],
        table,
    )
    finite = [v for v in ratios if not math.isnan(v)]
    if finite:
        text += (
            f"\nMedian cost ratio: {statistics.median(finite):.2f} (over {len(finite)} photos).\n"
        )
    return text


def plot(w: Workload, rows: list[dict[str, Any]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(13, 5))
    styles = {
        "IG uniform": ("tab:gray", "--s"),
        "IG graded": ("tab:blue", "--o"),
        "IDG uniform": ("tab:orange", "-s"),
        "IDG pilot": ("tab:red", "-^"),
        "IDG graded": ("tab:green", "-o"),
    }
    for label, (color, style) in styles.items():
        mine = [r for r in rows if r["schedule"] == label]
        if not mine:
            continue
        axis = ax[0] if label.startswith("IDG") else ax[1]
        budgets = sorted({r["budget"] for r in mine})
        xs = [statistics.median([r["evals"] for r in mine if r["budget"] == b]) for b in budgets]
        ys = [statistics.median([r["err"] for r in mine if r["budget"] == b]) for b in budgets]
        axis.loglog(xs, ys, style, color=color, ms=4, label=label)
    for method, axis in (("IDG", ax[0]), ("IG", ax[1])):
        mine = [r for r in rows if r["schedule"] == f"{method} rtol"]
        for budget in sorted({r["budget"] for r in mine}, key=str):
            sel = [r for r in mine if r["budget"] == budget]
            rtol = sel[0]["rtol"]
            axis.loglog(
                [statistics.median([r["evals"] for r in sel])],
                [statistics.median([r["err"] for r in sel])],
                "*",
                color="black",
                ms=10,
            )
            axis.axhline(rtol, color="black", lw=0.5, ls=":")
        axis.set_xlabel("model evaluations per example (every pass counted)")
        axis.set_ylabel(f"{method}: relative L2 error (median over examples)")
        axis.legend(fontsize=8, title="* rtol runs (dotted: rtol)", title_fontsize=7)
        axis.grid(True, which="both", lw=0.3)
    fig.suptitle(w.title, fontsize=10)
    fig.tight_layout()
    path = out / f"accuracy_{w.name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def report(w: Workload, rows: list[dict[str, Any]], png: Path, seconds: float) -> str:
    text = f"\n### {w.title}\n\nReference: {w.ref_note}. Time: {seconds:.0f} s.\n\n"
    text += f"![accuracy per cost, {w.name}]({png.name})\n\n"
    table = []
    for label in SCHEDULES:
        mine = [r for r in rows if r["schedule"] == label]
        for b in sorted({r["budget"] for r in mine}):
            sel = [r for r in mine if r["budget"] == b]
            ests = [r["est"] / r["err"] for r in sel if not math.isnan(r["est"]) and r["err"] > 0]
            table.append(
                [
                    label,
                    b,
                    f"{statistics.median([r['evals'] for r in sel]):.0f}",
                    f"{statistics.median([r['err'] for r in sel]):.2e}",
                    f"{max(r['err'] for r in sel):.2e}",
                    f"{statistics.median(ests):.2f}" if ests else "-",
                ]
            )
    text += markdown_table(
        [
            "schedule",
            "n_steps",
            "evaluations",
            "rel. L2 error (median)",
            "(max)",
            "estimate / error (median)",
        ],
        table,
    )
    rt = []
    for label in ("IG rtol", "IDG rtol"):
        mine = [r for r in rows if r["schedule"] == label]
        for budget in sorted({r["budget"] for r in mine}, key=str):
            sel = [r for r in mine if r["budget"] == budget]
            rtol = sel[0]["rtol"]
            rt.append(
                [
                    label.split()[0],
                    str(budget),
                    f"{statistics.median([r['evals'] for r in sel]):.0f} "
                    f"({max(r['evals'] for r in sel)})",
                    f"{statistics.median([r['err'] for r in sel]):.1e} "
                    f"({max(r['err'] for r in sel):.1e})",
                    f"{statistics.median([r['est'] for r in sel]):.1e}",
                    f"{sum(r['err'] <= rtol for r in sel)} of {len(sel)}",
                ]
            )
    if rt:
        text += "\nThe tolerance API (graded schedule, `rtol=...`):\n\n"
        text += markdown_table(
            [
                "method",
                "rtol",
                "evaluations: median (max)",
                "true error: median (max)",
                "estimate: median",
                "true error <= rtol",
            ],
            rt,
        )
    return text


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="logistic and digits only")
    parser.add_argument("--smoke", action="store_true", help="tiny ladders (tests)")
    parser.add_argument("--only", type=str, default=None, help="comma-separated workloads")
    parser.add_argument("--photos", type=str, default=None, help="EfficientNet photos (all)")
    parser.add_argument(
        "--rtol-photos",
        type=str,
        default=RTOL_PHOTOS,
        help="EfficientNet photos of the rtol runs ('all': every photo)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore cached measurements")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from idgrad.zoo import photo_names

    level = "smoke" if args.smoke else "quick" if args.quick else "full"
    default = (
        "logistic,digits,smooth"
        if level != "full"
        else "logistic,digits,smooth,minilm,efficientnet"
    )
    only = (args.only or default).split(",")
    photos = args.photos.split(",") if args.photos else photo_names()
    rtol_photos = None if args.rtol_photos == "all" else args.rtol_photos.split(",")
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[], Workload]] = {
        "logistic": lambda: logistic_workload(level),
        "digits": lambda: digits_workload(level),
        "minilm": lambda: minilm_workload(level),
        "efficientnet": lambda: efficientnet_workload(level, photos, rtol_photos),
        "smooth": lambda: smooth_workload(level),
    }
    text = header("Accuracy per cost", command_line("benchmarks.accuracy", argv))
    text += (
        "\nRelative L2 error of the attributions (over every feature) against a converged "
        "reference, against model evaluations per example: gradient points, forward-only "
        "pilot and end points, and for the layer methods the two capture passes. IDG is "
        "compared with IDG's reference, IG with IG's. `uniform` is the Gauss-Legendre rule "
        '(`schedule="uniform"`), `IDG pilot` the paper\'s schedule (`schedule="pilot"`), '
        "`graded` idgrad's graded schedule (`schedule=\"graded\"`, IDG's default); `rtol` rows "
        "ask for an accuracy instead of a budget. The estimate is the graded schedule's own "
        "`GradedDetails.error`. Every schedule costs `n_steps + 2` evaluations (the two ends: "
        "forward-only for uniform, gradient points for graded), the pilot schedule its pilot "
        "too.\n"
    )
    all_rows: dict[str, list[dict[str, Any]]] = {}
    summaries: dict[str, Any] = {}
    workloads: dict[str, Workload] = {}
    for name in only:
        t0 = time.perf_counter()
        w = makers[name]()
        rows = measure(w, args.fresh, level)
        png = plot(w, rows, out)
        text += report(w, rows, png, time.perf_counter() - t0)
        all_rows[name], summaries[name], workloads[name] = rows, summarize(w, rows), w
    text += _verdicts(workloads, all_rows, summaries)
    write_result("accuracy", text, out)
    return text


def _verdicts(
    workloads: dict[str, Workload],
    rows: dict[str, list[dict[str, Any]]],
    summaries: dict[str, Any],
) -> str:
    text = "\n### Evaluations per example to reach each error level (median over the examples)\n\n"
    table = []
    for name, summary in summaries.items():
        for label, s in summary.items():
            for lv, v in s["median"].items():
                table.append([name, label, f"{lv:g}", _fmt_evals(v)])
    text += markdown_table(["workload", "schedule", "error", "evaluations"], table)
    if "efficientnet" in summaries and "IDG graded" in summaries["efficientnet"]:
        per = summaries["efficientnet"]["IDG graded"]["per_example"]
        text += "\nEfficientNet-Lite0, IDG graded, evaluations to 1% per photo: " + ", ".join(
            f"{ex} {_fmt_evals(v[1e-2])}" for ex, v in per.items()
        )
        text += ".\n"
        for label in ("IDG pilot", "IDG uniform", "IG uniform", "IG graded"):
            if label in summaries["efficientnet"]:
                per = summaries["efficientnet"][label]["per_example"]
                text += f"\n{label}, evaluations to 1% per photo: " + ", ".join(
                    f"{ex} {_fmt_evals(v[1e-2])}" for ex, v in per.items()
                )
                text += ".\n"
        tol = [r for r in rows["efficientnet"] if r["schedule"] == "IDG rtol"]
        if tol:
            text += "\nEfficientNet-Lite0, `rtol=0.01` photo by photo:\n\n"
            text += markdown_table(
                ["photo", "evaluations", "true error", "estimate", "true error <= 1%"],
                [
                    [
                        r["example"],
                        r["evals"],
                        f"{r['err']:.2%}",
                        f"{r['est']:.2%}",
                        "yes" if r["err"] <= 0.01 else "**no**",
                    ]
                    for r in tol
                ],
            )
    text += graded_against_uniform(rows)
    if "efficientnet" in rows:
        text += rtol_cost(rows["efficientnet"])
    all_est = [r for rs in rows.values() for r in rs]
    fixed = [r for r in all_est if r["schedule"] in ("IG graded", "IDG graded")]
    tol = [r for r in all_est if r["schedule"].endswith("rtol")]
    text += "\n### Is the error estimate to be trusted?\n\n"
    rel = []
    for label, sel in (("fixed budgets (graded rows)", fixed), ("rtol runs", tol)):
        for floor in (0.0, EQUAL_BELOW):
            n, b, wv = reliability(sel, floor)
            shown = f"{label}, both raised to {floor:g}" if floor else label
            rel.append([shown, n, f"{100 * b:.0f}%", f"{100 * wv:.0f}%"])
    text += markdown_table(
        ["runs", "examples x budgets", "estimate >= true error", "within 3x of it"], rel
    )
    per_workload = []
    for name, rs in rows.items():
        for label, sel in (
            ("fixed", [r for r in rs if r["schedule"] in ("IG graded", "IDG graded")]),
            ("rtol", [r for r in rs if r["schedule"].endswith("rtol")]),
        ):
            n, b, wv = reliability(sel)
            if n:
                per_workload.append([name, label, n, f"{100 * b:.0f}%", f"{100 * wv:.0f}%"])
    text += "\n" + markdown_table(
        ["workload", "runs", "n", "estimate >= true error", "within 3x"], per_workload
    )
    return text


if __name__ == "__main__":
    main()

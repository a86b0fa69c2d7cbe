"""Planted-motif benchmark: IG vs IDG (uniform, pilot schedule) at equal cost, shuffled references.

Ground truth: synthetic sequences (``idgrad.genomics.planted_motifs``) whose label is "a GATA-like
``AGATAA`` and/or a CTCF-like core motif was planted"; a small CNN is trained on them here (a few
seconds). Correctly classified positive test sequences are explained against ``R``
dinucleotide-shuffled references each (expected attributions), for the logit and for the sigmoid
probability (a saturating target, the case IDG was designed for).

Every method gets the same number of model evaluations per (sequence, reference) pair, forward-only
ones included: IG and uniform IDG use ``B - 2`` gradient points (+ ``F(x')``, ``F(x)``), IDG on
the pilot schedule uses ``n`` gradient points + an ``N + 1``-point pilot with
``n + N + 1 <= B``. The counts are taken from ``Details`` and checked.

Reported per method and budget ``B``:

* top-k precision: fraction of the ``k = |motif|`` highest-attributed positions (summed over the
  four channels, signed) that lie inside planted motifs; chance = mask fraction;
* AUROC of ``|attribution|`` per position against the motif mask (chance 0.5);
* ``Σ|delta| / Σ|F(x) - F(x')|`` over all pairs, ``delta`` being the schedule's quadrature
  error on ``∫ F'(α) dα`` (for IG, its completeness gap);
* relative L2 error of the expected attributions against the same method converged
  (``--reference-steps`` uniform midpoint points).

Run::

    python benchmarks/genomics_motifs.py            # full (about 5 min on 2 busy CPU cores)
    python benchmarks/genomics_motifs.py --quick    # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

import idgrad
from idgrad.genomics import (
    auroc,
    dinucleotide_shuffle,
    motif_cnn,
    planted_motifs,
    topk_precision,
    train_motif_model,
)


def pilot_split(budget: int) -> tuple[int, int]:
    """Largest ``n`` gradient points with ``n + N(n) + 1 <= budget`` (default pilot ``N``)."""
    best = None
    for n in range(1, budget):
        pilot = idgrad.default_pilot_steps(n)
        if n + pilot + 1 <= budget:
            best = (n, pilot)
    if best is None:
        raise ValueError(f"budget {budget} too small for IDG on the pilot schedule")
    return best


def run_method(
    name: str,
    model: torch.nn.Module,
    x: torch.Tensor,
    refs: torch.Tensor,
    target: Any,
    budget: int,
    chunk: int,
) -> dict[str, Any]:
    """Expected attributions of ``name`` at ``budget`` evaluations per pair, with details."""
    n, r = refs.shape[:2]
    flat_x = x.repeat_interleave(r, dim=0)
    flat_refs = refs.reshape(n * r, *x.shape[1:])
    common: dict[str, Any] = {
        "baselines": flat_refs,
        "target": target,
        "internal_batch_size": chunk,
    }
    if name == "IG":
        steps, pilot = budget - 2, None
        det = idgrad.integrated_gradients.details(model, flat_x, n_steps=steps, **common)
    elif name == "IDG uniform":
        steps, pilot = budget - 2, None
        det = idgrad.integrated_decision_gradients.details(
            model, flat_x, n_steps=steps, schedule="uniform", rule="riemann_middle", **common
        )
    elif name == "IDG pilot":
        steps, pilot = pilot_split(budget)
        det = idgrad.integrated_decision_gradients.details(
            model,
            flat_x,
            n_steps=steps,
            n_pilot_steps=pilot,
            schedule="pilot",  # the paper's schedule (midpoints inside the pilot's intervals)
            **common,
        )
    elif name.startswith("reference"):
        steps, pilot = budget, None
        method = (
            idgrad.integrated_gradients
            if name.endswith("IG")
            else idgrad.integrated_decision_gradients
        )
        det = method.details(
            model, flat_x, n_steps=steps, schedule="uniform", rule="riemann_middle", **common
        )
    else:
        raise ValueError(name)
    per_pair = det.n_evaluations / (n * r)
    if not name.startswith("reference") and per_pair > budget:
        raise RuntimeError(f"{name}: {per_pair} evaluations per pair exceed the budget {budget}")
    attributions = det.attributions
    if not isinstance(attributions, torch.Tensor):  # one input tensor: one attribution tensor
        raise TypeError(f"expected one attribution tensor, got {type(attributions).__name__}")
    return {
        "attributions": attributions.reshape(n, r, *x.shape[1:]).mean(dim=1),
        "abs_delta": det.delta.abs().reshape(n, r),
        "abs_gap": (det.end - det.start).abs().reshape(n, r),
        "evals_per_pair": per_pair,
        "steps": steps,
        "pilot": pilot,
        "details": det,
    }


def mean_se(values: torch.Tensor) -> tuple[float, float]:
    v = values[~torch.isnan(values)].to(torch.float64)
    return float(v.mean()), float(v.std(unbiased=True) / max(1, len(v)) ** 0.5) if len(
        v
    ) > 1 else 0.0


def decision_width(det: Any, mass: float = 0.9) -> torch.Tensor:
    """Fraction of the path (uniform points) that carries ``mass`` of ``∫ |F'| dα``, per pair."""
    d = det.derivatives.abs().to(torch.float64)
    sorted_d, _ = torch.sort(d, dim=1, descending=True)
    cum = sorted_d.cumsum(dim=1) / sorted_d.sum(dim=1, keepdim=True).clamp(min=1e-300)
    return ((cum < mass).sum(dim=1) + 1).to(torch.float64) / d.shape[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny smoke configuration")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--filters", type=int, default=16)
    p.add_argument("--n-eval", type=int, default=32, help="positive test sequences explained")
    p.add_argument("--shuffles", type=int, default=8, help="references per sequence")
    p.add_argument("--budgets", default="8,16,32,64,128", help="evaluations per pair")
    p.add_argument("--reference-steps", type=int, default=1024)
    p.add_argument("--chunk", type=int, default=8192, help="internal_batch_size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.length, args.epochs, args.n_eval = 1000, 50, 4, 8
        args.shuffles, args.budgets, args.reference_steps = 2, "8,16", 128
    torch.set_num_threads(args.threads)
    budgets = [int(b) for b in args.budgets.split(",")]
    t0 = time.perf_counter()

    train = planted_motifs(args.n_train, args.length, seed=args.seed)
    model = motif_cnn(n_filters=args.filters, kernel_size=15, seed=args.seed)
    losses = train_motif_model(
        model, train.sequences, train.labels, epochs=args.epochs, seed=args.seed
    )
    test = planted_motifs(1000, args.length, seed=args.seed + 1)
    with torch.no_grad():
        logits = model(test.sequences)
    accuracy = float(((logits > 0).float() == test.labels).float().mean())
    train_s = time.perf_counter() - t0
    keep = (test.labels == 1) & (logits > 0)  # correctly classified positives
    x = test.sequences[keep][: args.n_eval]
    mask = test.mask[keep][: args.n_eval]
    refs = dinucleotide_shuffle(x, n_shuffles=args.shuffles, seed=args.seed)
    chance = float(mask.float().mean())

    targets: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
        "logit": None,
        "probability": torch.sigmoid,
    }
    methods = ["IG", "IDG uniform", "IDG pilot"]
    rows: list[dict[str, Any]] = []
    widths: dict[str, float] = {}
    ref_check: dict[str, float] = {}
    for tname, target in targets.items():
        converged = {}
        for fam in ("IG", "IDG"):
            full = run_method(
                f"reference {fam}", model, x, refs, target, args.reference_steps, args.chunk
            )
            half = run_method(
                f"reference {fam}", model, x, refs, target, args.reference_steps // 2, args.chunk
            )
            converged[fam] = full["attributions"]
            diff = (half["attributions"] - full["attributions"]).flatten(1).norm(dim=1)
            ref_check[f"{tname}/{fam}"] = float(
                (diff / full["attributions"].flatten(1).norm(dim=1)).mean()
            )
            if fam == "IG":
                widths[tname] = float(decision_width(full["details"]).median())
        for budget in budgets:
            for name in methods:
                t = time.perf_counter()
                res = run_method(name, model, x, refs, target, budget, args.chunk)
                seconds = time.perf_counter() - t
                attr = res["attributions"]
                per_pos = attr.sum(dim=1)
                ref = converged["IG" if name == "IG" else "IDG"]
                err = (attr - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)
                topk_rows = topk_precision(per_pos, mask)
                if name == "IG":
                    ig_topk = topk_rows
                topk, topk_se = mean_se(topk_rows)
                dtopk, dtopk_se = mean_se(topk_rows - ig_topk)  # paired, same sequences
                auc, auc_se = mean_se(auroc(per_pos.abs(), mask))
                rows.append(
                    {
                        "target": tname,
                        "budget": budget,
                        "method": name,
                        "steps": res["steps"],
                        "pilot": res["pilot"],
                        "evals_per_pair": res["evals_per_pair"],
                        "topk": topk,
                        "topk_se": topk_se,
                        "dtopk_vs_ig": dtopk,
                        "dtopk_vs_ig_se": dtopk_se,
                        "auroc": auc,
                        "auroc_se": auc_se,
                        "rel_delta": float(res["abs_delta"].sum() / res["abs_gap"].sum()),
                        "rel_error": float(err.mean()),
                        "seconds": seconds,
                    }
                )
    total_s = time.perf_counter() - t0

    print(f"# planted-motif benchmark ({datetime.date.today().isoformat()})\n")
    arguments = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"command: `python benchmarks/genomics_motifs.py {arguments}`".rstrip())
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} threads; total {total_s:.0f} s (training {train_s:.1f} s)\n"
    )
    print(
        f"- model: Conv1d(4, {args.filters}, 15) -> ReLU -> global max -> Linear; trained on "
        f"{args.n_train} sequences of {args.length} bp, {args.epochs} epochs; loss "
        f"{losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f} (1000 sequences)."
    )
    print(
        f"- explained: {x.shape[0]} correctly classified positives x {args.shuffles} dinucleotide "
        f"shuffles; motif fraction (top-k chance) {chance:.3f}, AUROC chance 0.5."
    )
    print(
        "- decision region (median fraction of the path carrying 90% of ∫|F'|): "
        + ", ".join(f"{k} {v:.3f}" for k, v in widths.items())
    )
    print(
        f"- converged references: {args.reference_steps} midpoint points; "
        "their relative change from "
        f"{args.reference_steps // 2} points: "
        + ", ".join(f"{k} {v:.1e}" for k, v in ref_check.items())
        + "\n"
    )
    header = (
        "| B (evals/pair) | method | grad pts + pilot | top-k precision | AUROC "
        "| Σ\\|δ\\|/Σ\\|ΔF\\| | rel. error vs converged | Δ top-k vs IG (paired) |"
    )
    for tname in targets:
        print(f"## target: {tname}\n")
        print(header)
        print("|---:|---|---|---:|---:|---:|---:|---:|")
        for row in rows:
            if row["target"] != tname:
                continue
            pts = f"{row['steps']}" + (f" + {row['pilot'] + 1}" if row["pilot"] else " + 2")
            paired = "—"
            if row["method"] != "IG":
                paired = f"{row['dtopk_vs_ig']:+.3f} ± {row['dtopk_vs_ig_se']:.3f}"
            print(
                f"| {row['budget']} | {row['method']} | {pts} "
                f"| {row['topk']:.3f} ± {row['topk_se']:.3f} "
                f"| {row['auroc']:.3f} ± {row['auroc_se']:.3f} | {row['rel_delta']:.2e} "
                f"| {row['rel_error']:.2e} | {paired} |"
            )
        print()
    result = {
        "args": vars(args),
        "accuracy": accuracy,
        "losses": losses,
        "chance_topk": chance,
        "decision_width": widths,
        "reference_check": ref_check,
        "rows": rows,
        "total_seconds": total_s,
    }
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return result


if __name__ == "__main__":
    main()

"""Many targets in one call against one call per target, on a BPNet-style model.

The model: dilated residual convolutions on one-hot DNA ``(B, 4, L)`` with a profile head
(per-position logits) and a count head, about 100k parameters, random weights (the timing
does not depend on training). The ``K = 10`` targets are the ones genomics users explain
together: the count head and the profile head over 9 windows (BPNet's profile target,
``sum(softmax(logits).detach() * logits)`` over the window). Each row times one call with
``targets=[t_1, ..., t_K]`` against ``K`` calls with ``target=t_k``, interleaved in the same
process (:func:`benchmarks._common.compare_times`), and reports the median over rounds of
the paired ratio (separate calls / one call: the speed-up) and the largest relative
difference between the two results.

* uniform schedule (Gauss-Legendre, the points fixed in advance): the ``K`` targets share
  every forward pass and their gradients come from one batched vector-Jacobian product;
* graded schedule: the points depend on each target's ``F`` along the path, so every
  (example, target) pair is its own path and nothing is shared: the ratio should be ~1.

Run: ``python -m benchmarks.targets [--quick] [--smoke]``.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import idgrad
from benchmarks._common import (
    command_line,
    compare_times,
    fmt_ratio,
    fmt_seconds,
    header,
    markdown_table,
    write_result,
)
from idgrad.core.seam import resolve_chunk_size

__all__ = ["BPNetLike", "main", "one_hot_batch", "track_targets"]


class BPNetLike(nn.Module):
    """A BPNet-style model: ``(B, 4, L)`` one-hot DNA -> (profile logits ``(B, L)``,
    log counts ``(B, 1)``).

    A wide first convolution, ``layers`` dilated residual convolutions (dilation ``2^i``),
    a profile head (a wide convolution to one track) and a count head (global average
    pooling, then a linear layer), as in BPNet (Avsec et al., 2021) and bpnet-lite.
    """

    def __init__(self, filters: int = 64, layers: int = 8, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.first = nn.Conv1d(4, filters, 21, padding=10)
        self.convs = nn.ModuleList(
            nn.Conv1d(filters, filters, 3, padding=2**i, dilation=2**i)
            for i in range(1, layers + 1)
        )
        self.profile = nn.Conv1d(filters, 1, 75, padding=37)
        self.count = nn.Linear(filters, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / p[0].numel()) ** 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.first(x))
        for conv in self.convs:
            h = h + torch.relu(conv(h))
        return self.profile(h)[:, 0], self.count(h.mean(2))


def one_hot_batch(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random one-hot DNA ``(batch, 4, length)``, float32."""
    gen = torch.Generator().manual_seed(seed)
    bases = torch.randint(0, 4, (batch, length), generator=gen)
    return torch.nn.functional.one_hot(bases, 4).permute(0, 2, 1).float().contiguous()


def _profile_window(lo: int, hi: int) -> Callable[[Any], torch.Tensor]:
    def target(output: Any) -> torch.Tensor:
        logits = output[0][:, lo:hi]
        return (torch.softmax(logits, -1).detach() * logits).sum(-1)

    return target


def _count(output: Any) -> torch.Tensor:
    return output[1][:, 0]


def track_targets(length: int, windows: int = 9) -> list[Callable[[Any], torch.Tensor]]:
    """The count head and the profile head over ``windows`` equal windows."""
    edges = [round(i * length / windows) for i in range(windows + 1)]
    return [_count] + [_profile_window(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _largest_difference(many: torch.Tensor, one_by_one: list[torch.Tensor]) -> float:
    worst = 0.0
    for k, single in enumerate(one_by_one):
        scale = float(single.abs().max().clamp_min(1e-30))
        worst = max(worst, float((many[k] - single).abs().max()) / scale)
    return worst


def measure(
    model: nn.Module,
    x: torch.Tensor,
    targets: Sequence[Callable[[Any], torch.Tensor]],
    schedule: str,
    n_steps: int,
    rounds: int,
) -> dict[str, Any]:
    """One row: times, the speed-up and the largest relative difference."""
    options: dict[str, Any] = {"schedule": schedule, "n_steps": n_steps}

    def many() -> torch.Tensor:
        return idgrad.integrated_gradients(model, x, targets=list(targets), **options)

    def separate() -> list[torch.Tensor]:
        return [idgrad.integrated_gradients(model, x, target=t, **options) for t in targets]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        details = idgrad.integrated_gradients.details(model, x, targets=list(targets), **options)
    difference = _largest_difference(details.attributions, separate())
    single = idgrad.integrated_gradients.details(model, x, target=targets[0], **options)
    times = compare_times({"one call": many, "separate calls": separate}, "one call", rounds)
    low, high = times.spread("separate calls")
    return {
        "schedule": schedule,
        "one": times.median("one call"),
        "separate": times.median("separate calls"),
        "ratio": times.ratio("separate calls"),
        "spread": (low, high),
        "difference": difference,
        "evals_many": details.n_gradient_evals + details.n_forward_evals,
        "evals_single": single.n_gradient_evals + single.n_forward_evals,
        "warnings": sorted({str(w.message).split("\n")[0][:80] for w in caught}),
    }


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="sequences per call")
    parser.add_argument("--length", type=int, default=1000, help="sequence length")
    parser.add_argument("--steps", type=int, default=50, help="n_steps of every call")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no timing claims")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.length, args.steps, args.rounds = 2, 120, 4, 1
    elif args.quick:
        args.batch, args.length, args.rounds = 4, 500, 3
    model = BPNetLike().eval()
    n_params = sum(p.numel() for p in model.parameters())
    x = one_hot_batch(args.batch, args.length)
    targets = track_targets(args.length)
    load_before = os.getloadavg()
    rows = [measure(model, x, targets, s, args.steps, args.rounds) for s in ("uniform", "graded")]
    load_after = os.getloadavg()
    chunk = resolve_chunk_size("auto", (x,))
    k = len(targets)
    text = header(
        f"K = {k} targets in one call vs {k} calls (BPNet-style model)",
        command_line("benchmarks.targets", argv),
    )
    text += (
        f"Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; "
        f"after: {', '.join(f'{v:.2f}' for v in load_after)}\n\n"
        f"Model: BPNet-style, {n_params} parameters (random weights), input {args.batch} x 4 x "
        f"{args.length} one-hot, float32. Targets: the count head and the profile head over "
        f"9 windows. `integrated_gradients`, n_steps = {args.steps}, internal_batch_size "
        f'"auto" ({chunk} points per pass; a shared pass holds {max(1, chunk // k)} points '
        f"and their {k} gradients). Median over {args.rounds} interleaved rounds.\n\n"
    )
    table_rows = [
        [
            r["schedule"],
            fmt_seconds(r["one"]),
            fmt_seconds(r["separate"]),
            f"**{fmt_ratio(r['ratio'])}** ({r['spread'][0]:.2f}-{r['spread'][1]:.2f})",
            f"{r['evals_many']} vs {k} x {r['evals_single']}",
            f"{r['difference']:.1e}",
        ]
        for r in rows
    ]
    text += markdown_table(
        [
            "schedule",
            "one call (targets=)",
            f"{k} calls (target=)",
            "speed-up (quartiles)",
            "model evaluations",
            "largest relative difference",
        ],
        table_rows,
    )
    warned = sorted({w for r in rows for w in r["warnings"]})
    text += (
        "\nWarnings during the calls: " + ("; ".join(warned) if warned else "none") + ".\n"
    )
    return str(write_result("targets", text, args.out).read_text())


if __name__ == "__main__":
    main()

"""K targets in one call (``targets=``) against K calls (``target=``), on idgrad's BPNet.

The model: :class:`idgrad.genomics.BPNet` (dilated residual convolutions on one-hot DNA
``(B, 4, L)``, a profile head and a count head; random weights: the timing does not depend
on training). The ``K = 10`` targets are the ones genomics users explain together: the count
head (:func:`~idgrad.genomics.counts_target`) and the profile head over 9 windows
(:func:`~idgrad.genomics.profile_target`, BPNet's ``sum(softmax(logits).detach() *
logits)``). Each row times one call with ``targets=[t_1, ..., t_K]`` against ``K`` calls
with ``target=t_k``, interleaved in one process (:func:`both_clocks`),
and reports the median over rounds of the paired ratio (K calls / one call: the speed-up),
its quartiles, by the wall clock and by CPU time, the model's work (rows forwarded,
gradients) and the largest relative difference between the two results.

* IG, uniform schedule (Gauss-Legendre: the points fixed in advance): the ``K`` targets share
  each forward pass; ``K`` backward passes over its graph give their gradients (a shared
  chunk holds ``chunk // K`` points). The forward pass is what is saved: about
  ``K (f + b) / (f + K b)`` with ``f``, ``b`` the costs of a forward and a backward pass, and
  the small graph that the ``K`` backward passes re-read stays in cache.
* IDG, graded schedule: the points depend on each target's ``F`` along the path, so every
  (example, target) pair is its own path (``K B`` pseudo-examples in one call) and nothing
  is shared: what one call can gain is only bigger batches and less per-call overhead.

A second table shows why the shared pass takes ``K`` backward passes rather than one batched
vector-Jacobian product (``torch.autograd.grad(..., is_grads_batched=True)``, the backward
under ``torch.vmap``): one chunk of points through the same model, three ways.

Run: ``python -m benchmarks.targets [--quick | --smoke] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import idgrad
from benchmarks._common import (
    Timing,
    command_line,
    fmt_ratio,
    fmt_seconds,
    header,
    markdown_table,
    write_result,
)
from idgrad.core.seam import resolve_chunk_size
from idgrad.genomics import BPNet, counts_target, profile_target

__all__ = ["Counted", "both_clocks", "bpnet_targets", "main", "measure", "one_hot_batch"]

Target = Callable[[Any], torch.Tensor]


class Counted(nn.Module):
    """The model, counting the rows it is called on (``rows``) and its calls."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows = 0
        self.calls = 0

    def forward(self, x: torch.Tensor) -> Any:
        self.rows += int(x.shape[0])
        self.calls += 1
        return self.model(x)


def one_hot_batch(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random one-hot DNA ``(batch, 4, length)``, float32."""
    gen = torch.Generator().manual_seed(seed)
    bases = torch.randint(0, 4, (batch, length), generator=gen)
    return torch.nn.functional.one_hot(bases, 4).permute(0, 2, 1).float().contiguous()


def bpnet_targets(length: int, windows: int = 9) -> list[Target]:
    """The count head and the profile head over ``windows`` equal windows."""
    edges = [round(i * length / windows) for i in range(windows + 1)]
    profiles = [
        profile_target(head=0, window=(a, b), center=False) for a, b in zip(edges, edges[1:])
    ]
    return [counts_target(head=1), *profiles]


def _largest_difference(many: torch.Tensor, one_by_one: list[torch.Tensor]) -> float:
    worst = 0.0
    for k, single in enumerate(one_by_one):
        scale = float(single.abs().max().clamp_min(1e-30))
        worst = max(worst, float((many[k] - single).abs().max()) / scale)
    return worst


def both_clocks(
    contenders: dict[str, Callable[[], Any]], reference: str, rounds: int
) -> tuple[Timing, Timing]:
    """Wall-clock and CPU (process) times of every contender, interleaved as
    :func:`benchmarks._common.compare_times` does (one warm-up round, then ``rounds`` rounds
    in rotated order). On a shared machine the CPU time is the steadier of the two: other
    processes stretch the wall clock, not the work done."""
    for f in contenders.values():
        f()
    names = list(contenders)
    wall, cpu = Timing({n: [] for n in names}), Timing({n: [] for n in names})
    wall.reference = cpu.reference = reference
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            contenders[name]()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu


def _ratio(times: Timing) -> str:
    low, high = times.spread("K calls")
    return f"**{fmt_ratio(times.ratio('K calls'))}** ({low:.2f}-{high:.2f})"


def measure(
    model: Counted,
    x: torch.Tensor,
    targets: Sequence[Target],
    label: str,
    method: Any,
    options: dict[str, Any],
    rounds: int,
) -> dict[str, Any]:
    """One row: times, the speed-up, the model's work and the largest relative difference."""

    def many() -> torch.Tensor:
        return method(model, x, targets=list(targets), **options)  # type: ignore[no-any-return]

    def separate() -> list[torch.Tensor]:
        return [method(model, x, target=t, **options) for t in targets]

    model.rows = 0
    details = method.details(model, x, targets=list(targets), **options)
    rows_many = model.rows
    model.rows = 0
    singles = [method.details(model, x, target=t, **options) for t in targets]
    rows_separate = model.rows
    difference = _largest_difference(details.attributions, [s.attributions for s in singles])
    wall, cpu = both_clocks({"one call": many, "K calls": separate}, "one call", rounds)
    return {
        "label": label,
        "one": wall.median("one call"),
        "separate": wall.median("K calls"),
        "wall": _ratio(wall),
        "cpu": _ratio(cpu),
        "difference": difference,
        "rows": (rows_many, rows_separate),
        "gradients": (details.n_gradient_evals, sum(s.n_gradient_evals for s in singles)),
    }


def _autograd_ways(
    model: nn.Module, x: torch.Tensor, targets: Sequence[Target], rounds: int
) -> list[list[str]]:
    """One chunk of ``x``: K (forward + backward), forward + K backward, forward + one
    vmapped batched product; times and the ratio to the first."""
    k = len(targets)

    def leaf() -> torch.Tensor:
        return x.clone().requires_grad_(True)

    def separate() -> None:
        for t in targets:
            p = leaf()
            torch.autograd.grad(t(model(p)).sum(), p)

    def k_backward() -> None:
        p = leaf()
        out = model(p)
        parts = [t(out) for t in targets]
        for j, v in enumerate(parts):
            torch.autograd.grad(v.sum(), p, retain_graph=j < k - 1)

    def batched() -> None:
        p = leaf()
        out = model(p)
        values = torch.stack([t(out) for t in targets])
        eye = torch.eye(k, dtype=values.dtype).unsqueeze(2).expand(k, k, values.shape[1])
        torch.autograd.grad(values, p, grad_outputs=eye, is_grads_batched=True)

    names = {
        f"{k} x (forward + backward)": separate,
        f"forward + {k} backward passes (idgrad)": k_backward,
        "forward + one batched product (vmap)": batched,
    }
    wall, cpu = both_clocks(names, next(iter(names)), rounds)
    return [
        [
            name,
            fmt_seconds(wall.median(name)),
            fmt_ratio(1.0 / wall.ratio(name)),
            fmt_ratio(1.0 / cpu.ratio(name)),
        ]
        for name in names
    ]


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4, help="sequences per call")
    parser.add_argument("--length", type=int, default=1000, help="sequence length")
    parser.add_argument("--steps", type=int, default=32, help="n_steps of every call")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no timing claims")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a busy shared machine two OpenMP threads spin-wait "
        "on each other, and the bigger chunks of a call with targets= suffer most)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    channels, layers = 64, 7
    if args.smoke:
        args.batch, args.length, args.steps, args.rounds = 2, 60, 4, 1
        channels, layers = 8, 2
    elif args.quick:
        args.batch, args.length, args.steps, args.rounds = 4, 500, 16, 3
    model = Counted(BPNet(channels=channels, layers=layers, seed=0).eval())
    n_params = sum(p.numel() for p in model.parameters())
    x = one_hot_batch(args.batch, args.length)
    targets = bpnet_targets(args.length)
    k = len(targets)
    chunk = resolve_chunk_size("auto", (x,))
    load_before = os.getloadavg()
    rows = [
        measure(
            model,
            x,
            targets,
            "IG, uniform (shared forward passes)",
            idgrad.integrated_gradients,
            {"n_steps": args.steps, "schedule": "uniform"},
            args.rounds,
        ),
        measure(
            model,
            x,
            targets,
            "IDG, graded (a path per example and target)",
            idgrad.integrated_decision_gradients,
            {"n_steps": args.steps, "schedule": "graded"},
            args.rounds,
        ),
    ]
    points = one_hot_batch(min(chunk or 64, 64), args.length, seed=1)
    ways = _autograd_ways(model.model, points, targets, args.rounds)
    load_after = os.getloadavg()
    text = header(
        f"K = {k} targets in one call against {k} calls (BPNet)",
        command_line("benchmarks.targets", argv),
    )
    text += (
        f"Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; "
        f"after: {', '.join(f'{v:.2f}' for v in load_after)}\n\n"
        f"Model: `idgrad.genomics.BPNet(channels={channels}, layers={layers})`, {n_params} "
        f"parameters (random weights), input {args.batch} x 4 x {args.length} one-hot, float32. "
        f"Targets: the count head and the profile head over 9 windows (BPNet's detached "
        f'softmax). n_steps = {args.steps}; internal_batch_size "auto" ({chunk} points per '
        f"pass; a shared pass takes {max(1, (chunk or k) // k)} points and their {k} "
        f"gradients). Torch threads: {torch.get_num_threads()}. Median over {args.rounds} "
        f"interleaved rounds of the paired ratio (quartiles in brackets), by the wall clock "
        f"and by the process's CPU time (the steadier of the two on a shared machine).\n\n"
    )
    text += markdown_table(
        [
            "method, schedule",
            "one call (targets=)",
            f"{k} calls (target=)",
            "speed-up, wall clock",
            "speed-up, CPU time",
            "rows forwarded (one call vs K calls)",
            "gradients",
            "largest relative difference",
        ],
        [
            [
                r["label"],
                fmt_seconds(r["one"]),
                fmt_seconds(r["separate"]),
                r["wall"],
                r["cpu"],
                f"{r['rows'][0]} vs {r['rows'][1]}",
                f"{r['gradients'][0]} vs {r['gradients'][1]}",
                f"{r['difference']:.1e}",
            ]
            for r in rows
        ],
    )
    text += (
        f"\nOne chunk of {points.shape[0]} points through the same model, the {k} targets' "
        "gradients three ways (speed-up against the first):\n\n"
    )
    text += markdown_table(["way", "time", "speed-up, wall clock", "speed-up, CPU time"], ways)
    return str(write_result("targets", text, args.out).read_text())


if __name__ == "__main__":
    main()

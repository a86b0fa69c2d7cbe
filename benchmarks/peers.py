"""idgrad against its peers at equal work: captum 0.9 and integrated-decision-gradients 0.1.2.

* captum ``IntegratedGradients`` vs :func:`idgrad.integrated_gradients`: same
  ``n_steps``, same rule, same chunk (captum's ``internal_batch_size`` counts
  rows, so both evaluate the same rows per pass). Target: not slower. One more
  row per rule puts each at its default (captum: every row in one pass; idgrad:
  ``internal_batch_size="auto"``).
* the seed package's ``get_integrated_decision_gradients`` vs
  :func:`idgrad.integrated_decision_gradients`, each at its defaults (the seed:
  ``batch_size=1`` step per pass, ``n_steps // 2`` pilot points), and at equal
  batch and pilot (the seed with ``batch_size=n_steps`` and idgrad's pilot
  size; idgrad at its default chunking, since the seed splits its passes by
  pilot interval whatever its ``batch_size``). Target: idgrad >= 1.5x faster at
  the defaults.

The rows each contender sends through the model (with and without gradients)
are counted once, untimed, with a counting wrapper: the seed package does not
keep its step budget, so "equal work" is shown, not assumed.

Run: ``python -m benchmarks.peers [--quick] [--smoke]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

import idgrad
from benchmarks._common import (
    command_line,
    compare_times,
    efficientnet,
    fmt_ratio,
    fmt_seconds,
    header,
    markdown_table,
    photo_batch,
    small_cnn,
    tabular_batch,
    tabular_mlp,
    verdict,
    write_result,
)
from idgrad.core.seam import resolve_chunk_size

__all__ = ["Counter", "main"]


class Counter(nn.Module):
    """Counts the rows a model sees, split by whether gradients are on."""

    def __init__(self, model: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.grad_rows = 0
        self.forward_rows = 0
        self.passes = 0

    def forward(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.grad_rows += int(x.shape[0])
        else:
            self.forward_rows += int(x.shape[0])
        self.passes += 1
        return self.model(x, *args)


def _count(fn: Callable[[Callable[..., torch.Tensor]], Any], model: Any) -> str:
    c = Counter(model)
    fn(c)
    return f"{c.grad_rows} + {c.forward_rows} fwd ({c.passes} passes)"


def _cases(level: str) -> list[tuple[str, Any, torch.Tensor, int]]:
    g = torch.Generator().manual_seed(0)
    if level == "smoke":
        return [
            ("CNN 8x8 (smoke)", small_cnn(size=8, width=4), torch.rand(2, 3, 8, 8, generator=g), 1)
        ]
    reps = 5 if level == "quick" else 11
    out = [
        ("CNN 3x32x32, batch 8", small_cnn(), torch.rand(8, 3, 32, 32, generator=g), reps),
        ("MLP (breast cancer), batch 32", tabular_mlp(), tabular_batch(32)[0], reps),
    ]
    if level == "full":
        out.append(("EfficientNet-Lite0, batch 1", efficientnet(), photo_batch(["chelsea"])[1], 3))
    return out


def _chunk_label(captum: int | None, ours: int | str | None, x: torch.Tensor) -> str:
    if ours == "auto":
        return f"defaults (captum all, idgrad auto = {resolve_chunk_size('auto', (x,))})"
    return "all" if captum is None else str(captum)


def measure(level: str, n_steps: int = 50) -> tuple[list[list[Any]], list[list[Any]]]:
    """Rows of the captum table and of the seed-package table, for every model."""
    captum_rows: list[list[Any]] = []
    seed_rows: list[list[Any]] = []
    for name, model, x, reps in _cases(level):
        c_rows, s_rows = _case_rows(name, model, x, reps, level, n_steps)
        captum_rows += c_rows
        seed_rows += s_rows
    return captum_rows, seed_rows


def _case_rows(
    name: str, model: Any, x: torch.Tensor, reps: int, level: str, n_steps: int
) -> tuple[list[list[Any]], list[list[Any]]]:
    from captum.attr import IntegratedGradients
    from integrated_decision_gradients import get_integrated_decision_gradients as seed_idg

    captum_rows: list[list[Any]] = []
    seed_rows: list[list[Any]] = []
    with torch.no_grad():
        # one int class for the whole batch: the seed package crashes on tensor targets
        t = int(model(x[:1]).argmax(1))
    batch = x.shape[0]
    rules = ("gausslegendre",) if level == "smoke" else ("gausslegendre", "riemann_trapezoid")
    for rule in rules:
        # (captum's chunk, idgrad's chunk): equal work, then each at its default
        chunkings: tuple[tuple[int | None, int | Literal["auto"] | None], ...] = (
            (None, None),
            (batch * 10, batch * 10),
            (None, "auto"),
        )
        for chunk, ours in chunkings:

            def run_captum(chunk: int | None = chunk, rule: str = rule) -> Any:
                return IntegratedGradients(model).attribute(
                    x, target=t, n_steps=n_steps, method=rule, internal_batch_size=chunk
                )

            def run_idgrad(ours: int | Literal["auto"] | None = ours, rule: str = rule) -> Any:
                return idgrad.integrated_gradients(
                    model, x, target=t, n_steps=n_steps, rule=rule, internal_batch_size=ours
                )

            times = compare_times({"captum": run_captum, "idgrad": run_idgrad}, "captum", reps)
            ratio = times.ratio("idgrad")
            captum_rows.append(
                [
                    name,
                    rule,
                    _chunk_label(chunk, ours, x),
                    fmt_seconds(times.median("captum")),
                    fmt_seconds(times.median("idgrad")),
                    fmt_ratio(1 / ratio),
                    f"not slower: {verdict(ratio <= 1.0)}",
                ]
            )
            print(" | ".join(str(c) for c in captum_rows[-1]), flush=True)
    pilot = idgrad.default_pilot_steps(n_steps)
    settings: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = [
        (
            "defaults",
            lambda m: seed_idg(m, x, target=t, n_steps=n_steps),
            lambda m: idgrad.integrated_decision_gradients(m, x, target=t, n_steps=n_steps),
        ),
        (
            f"schedule=pilot, equal batch, pilot {pilot}",
            lambda m: seed_idg(
                m, x, target=t, n_steps=n_steps, batch_size=n_steps, n_prechar_steps=pilot
            ),
            lambda m: idgrad.integrated_decision_gradients(
                m, x, target=t, n_steps=n_steps, schedule="pilot", n_pilot_steps=pilot
            ),
        ),
        (
            "schedule=uniform, rule=riemann_middle, equal batch",
            lambda m: seed_idg(m, x, target=t, n_steps=n_steps, adaptive=False, batch_size=n_steps),
            lambda m: idgrad.integrated_decision_gradients(
                m, x, target=t, n_steps=n_steps, schedule="uniform", rule="riemann_middle"
            ),
        ),
    ]
    for label, seed_fn, ours_fn in settings:
        times = compare_times(
            {"seed": partial(seed_fn, model), "idgrad": partial(ours_fn, model)}, "seed", reps
        )
        speedup = 1 / times.ratio("idgrad")
        target = "idgrad >= 1.5x faster" if label == "defaults" else "-"
        seed_rows.append(
            [
                name,
                label,
                _count(seed_fn, model),
                _count(ours_fn, model),
                fmt_seconds(times.median("seed")),
                fmt_seconds(times.median("idgrad")),
                fmt_ratio(speedup),
                f"{target}: {verdict(speedup >= 1.5)}" if label == "defaults" else target,
            ]
        )
        print(" | ".join(str(c) for c in seed_rows[-1]), flush=True)
    return captum_rows, seed_rows


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    level = "smoke" if args.smoke else "quick" if args.quick else "full"
    captum_rows, seed_rows = measure(level, args.steps)
    text = header("Against the peers at equal work", command_line("benchmarks.peers", argv))
    text += (
        f"\n### captum 0.9 `IntegratedGradients` vs `idgrad.integrated_gradients`\n\n"
        f"{args.steps} steps, same rule, same rows per pass (chunk = rows per forward/backward); "
        "the `defaults` rows run each library at its default chunking. "
        "Speed-up = captum time / idgrad time (median of paired rounds).\n\n"
    )
    text += markdown_table(
        ["model", "rule", "chunk", "captum", "idgrad", "idgrad speed-up", "target"], captum_rows
    )
    text += (
        f"\n### integrated-decision-gradients 0.1.2 vs `idgrad.integrated_decision_gradients`\n\n"
        f"{args.steps} steps. Points = gradient rows + forward-only rows sent through the model "
        "(and the number of model calls), counted untimed. `defaults`: each at its defaults "
        "(idgrad chunks automatically and integrates on the graded schedule, IDG's default); "
        "the other rows give the seed `batch_size = n_steps` (all steps per pass; it still "
        "splits by pilot interval) and idgrad the same schedule: the paper's pilot schedule "
        "with the same pilot size, or uniform midpoints (the seed's `adaptive=False`).\n\n"
    )
    text += markdown_table(
        [
            "model",
            "setting",
            "seed points",
            "idgrad points",
            "seed",
            "idgrad",
            "idgrad speed-up",
            "target",
        ],
        seed_rows,
    )
    write_result("peers", text, args.out)
    return text


if __name__ == "__main__":
    main()

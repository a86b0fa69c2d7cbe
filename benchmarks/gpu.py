"""The overhead suite on a GPU: idgrad's points per second against the floor's.

A ResNet-50 (bottleneck blocks 3-4-6-3, 25.6 M parameters) built in code with
random weights (speed does not depend on them), batch 32 at 224x224, 50 steps
(1600 gradient points per call), chunks of ``--chunk`` points. For each method
(IG on the uniform schedule, IDG on the graded one, its default) the floor does the same
points in the same chunks (see :func:`benchmarks._common.floor_pass`; the graded schedule's
``n_steps + 2`` gradient points per example, its nodes and both ends, in one chunked
pass); the table gives points per second of both and their ratio (target: idgrad >= 90%
of the floor).

Optional rows: ``--autocast`` runs the model under ``torch.autocast`` (bfloat16
compute; idgrad still accumulates in float32) and reports the speed-up and the
relative L2 difference of the attributions from float32; ``--compile`` passes
``torch.compile(model)`` as the forward function.

Run on a GPU: ``python -m benchmarks.gpu``; anywhere, small:
``python -m benchmarks.gpu --device cpu --quick``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import idgrad
from benchmarks._common import (
    command_line,
    compare_times,
    floor_pass,
    header,
    markdown_table,
    verdict,
    write_result,
)

__all__ = ["main", "resnet50"]


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = 4 * width
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def resnet50(
    base: int = 64, classes: int = 1000, blocks: Sequence[int] = (3, 4, 6, 3)
) -> nn.Module:
    """ResNet-50's architecture (He et al. 2016) at channel base ``base``.

    Random weights, eval mode.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(3, base, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(base),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    cin = base
    for stage, count in enumerate(blocks):
        width = base * 2**stage
        for i in range(count):
            layers.append(_Bottleneck(cin, width, 2 if (i == 0 and stage > 0) else 1))
            cin = 4 * width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    model = nn.Sequential(*layers).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(1), b.double().flatten(1)
    return float(((a - b).norm(dim=1) / b.norm(dim=1)).median())


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--quick", action="store_true", help="a small ResNet, small images, few steps"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny (for the test suite)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=256, help="points per forward/backward")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--autocast", action="store_true", help="add bfloat16 autocast rows")
    parser.add_argument("--compile", action="store_true", help="add torch.compile rows")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "no CUDA device; run with --device cpu --quick to try the script on the CPU"
        )
    if args.smoke:
        model, size, batch, steps, chunk, reps = (
            resnet50(base=4, classes=5, blocks=(1, 1, 1, 1)),
            16,
            2,
            4,
            4,
            1,
        )
    elif args.quick:
        model, size, batch, steps, chunk, reps = resnet50(base=8, classes=10), 32, 4, 8, 16, 2
    else:
        model, size, batch, steps, chunk, reps = (
            resnet50(),
            224,
            args.batch,
            args.steps,
            args.chunk,
            args.repeats,
        )
    model = model.to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, size, size, generator=gen).to(device)
    zero = torch.zeros_like(x)
    with torch.no_grad():
        target = model(x).argmax(1)

    variants: list[tuple[str, Callable[..., torch.Tensor]]] = [("float32", model)]
    if args.autocast:
        dev = device.type

        def bf16(z: torch.Tensor) -> torch.Tensor:
            with torch.autocast(dev, dtype=torch.bfloat16):
                return model(z).float()

        variants.append(("bf16 autocast", bf16))
    if args.compile:
        variants.append(("torch.compile", torch.compile(model)))

    rows: list[list[Any]] = []
    reference: dict[str, torch.Tensor] = {}
    for vname, fwd in variants:
        details = idgrad.integrated_decision_gradients.details(
            fwd, x, target=target, n_steps=steps, schedule="graded", internal_batch_size=chunk
        )
        ig_alphas = idgrad.uniform_schedule(steps, "gausslegendre").alphas.expand(batch, -1)
        # the graded schedule: n_steps nodes and both ends, every one a gradient point
        ends = torch.tensor([[0.0, 1.0]], dtype=torch.float64).expand(batch, -1)
        graded_alphas = torch.cat([ends, ig_alphas], 1)
        if details.n_evaluations != batch * (steps + 2):
            raise RuntimeError(f"the graded schedule spent {details.evaluations.tolist()}")
        cases = {
            "IG": (
                lambda f=fwd: idgrad.integrated_gradients(
                    f, x, target=target, n_steps=steps, internal_batch_size=chunk
                ),
                lambda f=fwd, a=ig_alphas: floor_pass(f, x, zero, target, a, chunk=chunk),
                batch * steps,
            ),
            "IDG (schedule=graded)": (
                lambda f=fwd: idgrad.integrated_decision_gradients(
                    f, x, target=target, n_steps=steps, schedule="graded", internal_batch_size=chunk
                ),
                lambda f=fwd, a=graded_alphas: floor_pass(f, x, zero, target, a, chunk=chunk),
                details.n_evaluations,
            ),
        }
        for method, (run, floor, points) in cases.items():
            times = compare_times({"floor": floor, "method": run}, "floor", reps, device=device)
            ratio = 1 / times.ratio("method")
            attr = run()
            if not isinstance(attr, torch.Tensor):  # one input tensor: one attribution tensor
                raise TypeError(f"expected one attribution tensor, got {type(attr).__name__}")
            key = method
            if vname == "float32":
                reference[key] = attr
                acc = "-"
            else:
                acc = f"{_rel_diff(attr, reference[key]):.1e}"
            rows.append(
                [
                    vname,
                    method,
                    points,
                    f"{points / times.median('floor'):.0f}",
                    f"{points / times.median('method'):.0f}",
                    f"{ratio:.3f}",
                    f">= 0.90: {verdict(ratio >= 0.90)}",
                    acc,
                ]
            )
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
    small = args.quick or args.smoke
    title = f"GPU suite ({device.type})" if not small else f"GPU suite, small model ({device.type})"
    text = header(title, command_line("benchmarks.gpu", argv))
    text += (
        f"\nResNet-50 architecture{' (small base width)' if small else ''}, random weights, "
        f"batch {batch}, {size}x{size}, {steps} steps, chunks of {chunk} points. "
        "Points = gradient + "
        "forward-only points per call; points/s from the median time of paired rounds; ratio = "
        "idgrad / floor points per second. Last column: relative L2 difference of the attributions "
        "from the float32 run.\n\n"
    )
    text += markdown_table(
        [
            "compute",
            "method",
            "points",
            "floor points/s",
            "idgrad points/s",
            "ratio",
            "target",
            "diff vs float32",
        ],
        rows,
    )
    write_result("gpu" if not small else "gpu_small", text, args.out)
    return text


if __name__ == "__main__":
    main()

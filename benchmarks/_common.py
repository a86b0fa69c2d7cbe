"""Shared pieces of the benchmarks: timing, the floor, models, tables, output files.

Timing protocol (the machines are shared and noisy): every contender of a row runs
in the same process, in rounds; each round runs every contender once, in a rotated
order, and the ratio of a contender to the reference *of the same round* is
recorded. The reported ratio is the median over rounds; absolute times are medians
too and only for orientation.
"""

from __future__ import annotations

import datetime as _dt
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "RESULTS",
    "Timing",
    "command_line",
    "compare_times",
    "efficientnet",
    "floor_pass",
    "fmt_ratio",
    "fmt_seconds",
    "header",
    "machine",
    "markdown_table",
    "photo_batch",
    "small_cnn",
    "tabular_batch",
    "tabular_mlp",
    "verdict",
    "write_result",
]

RESULTS = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- timing


class Timing(dict):  # type: ignore[type-arg]
    """``name -> list of seconds`` plus paired ratios against a reference."""

    reference: str = ""

    def median(self, name: str) -> float:
        return statistics.median(self[name])

    def ratios(self, name: str) -> list[float]:
        return [a / b for a, b in zip(self[name], self[self.reference])]

    def ratio(self, name: str) -> float:
        """Median over rounds of ``time(name) / time(reference)`` in the same round."""
        return statistics.median(self.ratios(name))

    def spread(self, name: str) -> tuple[float, float]:
        """Lower and upper quartile of the paired ratios."""
        r = sorted(self.ratios(name))
        if len(r) < 4:
            return r[0], r[-1]
        q = statistics.quantiles(r, n=4)
        return q[0], q[2]


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def compare_times(
    contenders: dict[str, Callable[[], Any]],
    reference: str,
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | None = None,
) -> Timing:
    """Time every contender ``repeats`` times, interleaved, in rotated order.

    Args:
        contenders: name -> zero-argument callable (the work to time).
        reference: the name whose time divides the others' in each round.
        repeats: number of rounds.
        warmup: untimed rounds first (allocator, caches, lazy init).
        device: synchronise this CUDA device around each call.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times = Timing({name: [] for name in names})
    times.reference = reference
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            _sync(device)
            t0 = time.perf_counter()
            contenders[name]()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------- the floor


def floor_pass(
    model: Callable[..., torch.Tensor],
    x: torch.Tensor,
    baseline: torch.Tensor,
    target: torch.Tensor | None,
    alphas: torch.Tensor,
    forward_alphas: torch.Tensor | None = None,
    chunk: int | None = None,
) -> torch.Tensor:
    """The least work any path method must do for these points.

    A forward-only pass over ``forward_alphas`` (pilot or end points, ``(B, P)``)
    and one forward + backward pass over the ``(B, S)`` gradient points
    ``alphas`` (in chunks of ``chunk`` points when given), for the straight path
    ``baseline -> x``, with the target logit ``target[b]`` per example (None: the
    model returns one scalar per example). Returns the gradient sum (to keep
    the work from being optimised away); no weighting, no bookkeeping.
    """
    diff = x - baseline
    tail = tuple(x.shape[1:])

    def points(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # broadcast each example over its alphas: (B, S, ...) -> (B * S, ...)
        a = a.to(device=x.device, dtype=x.dtype).reshape(a.shape + (1,) * len(tail))
        pts = torch.addcmul(baseline.unsqueeze(1), a, diff.unsqueeze(1))
        rows = torch.arange(a.shape[0], device=x.device).repeat_interleave(a.shape[1])
        return pts.reshape((-1,) + tail), rows

    def pick(out: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if target is None:
            return out.reshape(-1)
        return out.gather(1, target[rows].unsqueeze(1)).squeeze(1)

    if forward_alphas is not None:
        with torch.no_grad():
            pts, rows = points(forward_alphas)
            step = chunk or pts.shape[0]
            for lo in range(0, pts.shape[0], step):
                pick(model(pts[lo : lo + step]), rows[lo : lo + step])
    pts, rows = points(alphas)
    total = torch.zeros((), dtype=x.dtype, device=x.device)
    step = chunk or pts.shape[0]
    for lo in range(0, pts.shape[0], step):
        leaf = pts[lo : lo + step].detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(pick(model(leaf), rows[lo : lo + step]).sum(), leaf)
        total = total + grad.sum()
    return total


# --------------------------------------------------------------------------- models


def small_cnn(channels: int = 3, size: int = 32, classes: int = 10, width: int = 16) -> nn.Module:
    """A CIFAR-sized CNN (about 0.1 M parameters at width 16), random weights, eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (size // 4) ** 2, 128),
        nn.ReLU(),
        nn.Linear(128, classes),
    )
    return model.eval()


def tabular_batch(batch: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised rows of scikit-learn's breast-cancer table (30 features) and labels."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = torch.tensor(data.data, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    return x[:batch].contiguous(), torch.tensor(data.target[:batch], dtype=torch.long)


def tabular_mlp(features: int = 30, hidden: int = 256, depth: int = 3) -> nn.Module:
    """A ``depth``-layer ReLU MLP with two logits, trained briefly on the breast-cancer table."""
    from sklearn.datasets import load_breast_cancer

    torch.manual_seed(0)
    layers: list[nn.Module] = []
    width = features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, 2))
    model = nn.Sequential(*layers)
    data = load_breast_cancer()
    x = torch.tensor(data.data, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    y = torch.tensor(data.target, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.enable_grad():
        for _ in range(60):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval()


def efficientnet() -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights (offline, from :mod:`idgrad.zoo`)."""
    from idgrad.zoo import load_efficientnet_lite0

    model = load_efficientnet_lite0()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def photo_batch(
    names: Sequence[str] | None = None, size: int = 224
) -> tuple[list[str], torch.Tensor]:
    """Bundled photos in EfficientNet-Lite0's input space, ``(n, 3, size, size)``."""
    from idgrad.zoo import load_photos, normalize_imagenet_lite, photos_to_tensor

    photos = load_photos(size)
    chosen = list(photos) if names is None else list(names)
    x = normalize_imagenet_lite(photos_to_tensor([photos[n] for n in chosen]))
    return chosen, x


# --------------------------------------------------------------------------- reporting


def machine() -> str:
    """One line naming the machine: CPU model, cores, threads, Python and torch."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = ""
    if torch.cuda.is_available():
        gpu = f", GPU {torch.cuda.get_device_name(0)}"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads){gpu}, Python {platform.python_version()}"
    )


def header(title: str, command: str) -> str:
    """Markdown heading with the command that made the table, the machine and the date."""
    today = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"## {title}\n\nCommand: `{command}`  \nMachine: {machine()}  \nDate: {today}\n"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_result(name: str, text: str, out_dir: Path | None = None) -> Path:
    """Write ``text`` to ``<out_dir>/<name>.md`` and echo it."""
    out = out_dir or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.md"
    path.write_text(text)
    print(text, flush=True)
    return path


def fmt_ratio(r: float) -> str:
    return f"{r:.3f}x"


def fmt_seconds(s: float) -> str:
    if abs(s) >= 1:
        return f"{s:.2f} s"
    if abs(s) >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def command_line(module: str, argv: Sequence[str] | None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python -m", module, *args])

"""Converged reference attributions for the accuracy benchmarks, cached on disk.

The references are made by code that shares nothing with idgrad's schedules or
integrator: a plain loop over points along the straight path ``x' + alpha (x - x')``
that evaluates the gradient of the target output and accumulates weighted sums.

A reference is a nested pair of composite midpoint rules on a graded mesh of cells
``[a_c, b_c]``:

* the *coarse* rule evaluates each cell at its centre (weight ``h_c``);
* the *fine* rule trisects every cell and evaluates the three sub-cell centres
  (weight ``h_c / 3`` each); the coarse points are among them (the centre of the
  middle sub-cell), so the pair costs ``3 M`` gradient points for ``M`` cells.

Optionally a second stage trisects again the cells whose fine and coarse values
differ most (9 points each, the 3 earlier ones re-evaluated): those cells' fine
rule has 9 points and their coarse rule 3.

The reference is the fine rule. Its own error is estimated from the distance
between the fine and the coarse rules, ``d = ||fine - coarse|| / ||fine||``: the
fine rule has 3x smaller cells, so its error is about ``d / 8`` where the integrand
is smooth (error ~ h^2) and about ``d / 2.8`` where it is piecewise constant with
many jumps at random places (ReLU networks; error ~ h with random signs: see
``idgrad.engine.refinement``). We report ``d`` and ``d / 2.8``.

The mesh is graded from a forward-only pilot of ``F`` on a uniform grid: the cell
density is ``u + (1 - u) s^g / mean(s^g)`` with ``s`` the pilot's ``|dF/d alpha|``
(maximum over the two neighbouring pilot intervals on each side, so that a spike
between two pilot points still gets cells), ``u`` the uniform share.

Results are cached as ``.npz`` files (read with ``allow_pickle=False``) next to a JSON
file holding the configuration and the SHA-256 of the ``.npz``; a cache entry whose
hash or configuration does not match is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CACHE",
    "NestedSums",
    "graded_edges",
    "load_cached",
    "nested_midpoint_sums",
    "save_cached",
]

CACHE = Path(__file__).resolve().parent / "cache"
"""Where references are cached (ignored by git)."""

Model = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- evaluation


def _target_output(model: Model, pts: torch.Tensor, target: int | None) -> torch.Tensor:
    out = model(pts)
    if target is None:
        return out.reshape(-1)
    return out[:, target]


def _gradients(
    model: Model, x: torch.Tensor, baseline: torch.Tensor, target: int | None, alphas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """``F``, ``F'`` (float64 numpy) and the gradients ``(k, D)`` (float64) at ``alphas``."""
    a = torch.as_tensor(alphas, dtype=torch.float64)
    diff = (x - baseline).to(torch.float64)
    pts = baseline.to(torch.float64) + a.reshape((-1,) + (1,) * (x.ndim - 1)) * diff
    pts = pts.to(x.dtype).requires_grad_(True)
    with torch.enable_grad():
        out = _target_output(model, pts, target)
        (g,) = torch.autograd.grad(out.sum(), pts)
    g = g.reshape(len(alphas), -1).to(torch.float64)
    fp = g @ diff.reshape(-1)
    return out.detach().to(torch.float64).numpy(), fp.numpy(), g


def forward_values(
    model: Model,
    x: torch.Tensor,
    baseline: torch.Tensor,
    target: int | None,
    alphas: np.ndarray,
    chunk: int = 32,
) -> np.ndarray:
    """``F(x' + alpha (x - x'))`` at ``alphas`` (forward only), float64 numpy."""
    out = []
    diff = (x - baseline).to(torch.float64)
    with torch.no_grad():
        for lo in range(0, len(alphas), chunk):
            a = torch.as_tensor(alphas[lo : lo + chunk], dtype=torch.float64)
            pts = baseline.to(torch.float64) + a.reshape((-1,) + (1,) * (x.ndim - 1)) * diff
            out.append(_target_output(model, pts.to(x.dtype), target).to(torch.float64))
    return torch.cat(out).numpy()


# --------------------------------------------------------------------------- the mesh


def graded_edges(
    pilot_values: np.ndarray, n_cells: int, uniform_share: float = 0.5, power: float = 2 / 3
) -> np.ndarray:
    """Cell edges equidistributing ``u + (1 - u) s^g / mean(s^g)`` (see the module doc).

    ``pilot_values`` holds ``F`` at ``P + 1`` uniform points ``j / P``.

    Example:
        >>> e = graded_edges(np.array([0.0, 0.0, 1.0, 1.0, 1.0]), 4, uniform_share=0.0, power=1)
        >>> len(e), e[0], e[-1]
        (5, 0.0, 1.0)
    """
    n_pilot = len(pilot_values) - 1
    s = np.abs(np.diff(pilot_values)) * n_pilot
    wide = s.copy()
    for shift in (1, 2):
        wide[shift:] = np.maximum(wide[shift:], s[:-shift])
        wide[:-shift] = np.maximum(wide[:-shift], s[shift:])
    sg = wide**power
    density = uniform_share + (1 - uniform_share) * (
        sg / sg.mean() if sg.mean() > 0 else np.ones_like(sg)
    )
    cdf = np.concatenate([[0.0], np.cumsum(density)])
    cdf /= cdf[-1]
    grid = np.linspace(0.0, 1.0, n_pilot + 1)
    edges = np.interp(np.linspace(0.0, 1.0, n_cells + 1), cdf, grid)
    edges[0], edges[-1] = 0.0, 1.0
    return edges


# --------------------------------------------------------------------------- nested sums


@dataclass
class NestedSums:
    """Fine and coarse weighted sums along one path (float64).

    ``ig_*`` = ``(x - x') * sum w g``; ``idg_*`` = ``(x - x') * sum w F' g``;
    ``fp_*`` = ``sum w F'``; ``fp2_*`` = ``sum w F'^2``; ``points`` gradient evaluations.
    """

    ig_fine: np.ndarray
    ig_coarse: np.ndarray
    idg_fine: np.ndarray
    idg_coarse: np.ndarray
    fp_fine: float
    fp_coarse: float
    fp2_fine: float
    fp2_coarse: float
    points: int
    cell_edges: np.ndarray
    cell_level: np.ndarray
    alphas: np.ndarray
    outputs: np.ndarray
    derivatives: np.ndarray

    def idg(self, change: float, which: str = "fine") -> np.ndarray:
        """Normalised IDG: ``idg * change / fp2``."""
        raw = self.idg_fine if which == "fine" else self.idg_coarse
        fp2 = self.fp2_fine if which == "fine" else self.fp2_coarse
        return raw * (change / fp2)


def _new_points(a: float, b: float, level: int) -> np.ndarray:
    """The points a cell gains when it goes from ``level - 1`` to ``level`` (3^level rule).

    The level-``L`` rule has the points ``(k + 1/2) / 3^L`` of the cell; those with
    ``k = 3 j + 1`` are the level ``L - 1`` points, so ``2 * 3^(L-1)`` are new.
    """
    n = 3**level
    k = np.arange(n)
    if level > 0:
        k = k[k % 3 != 1]
    return a + (b - a) * (k + 0.5) / n


def nested_midpoint_sums(
    model: Model,
    x: torch.Tensor,
    baseline: torch.Tensor,
    target: int | None,
    edges: np.ndarray,
    total_points: int,
    chunk: int = 16,
    log: Callable[[str], None] | None = None,
) -> NestedSums:
    """The nested fine / coarse midpoint pair on ``edges``, refined where it differs most.

    ``x``/``baseline`` are one example ``(1, ...)``. Stage 1 puts every cell at level 1
    (3 points; level 0 is its centre alone). Then, until ``total_points`` gradient
    points are spent, the cells whose level-``L`` and level-``L - 1`` rules differ most
    (relative to the whole, IG and IDG, per new point) go to level ``L + 1``: the
    ``2 * 3^L`` new points are evaluated, the old ones keep their values (the cell's
    level-``L`` sums are kept in float32 per cell). ``fine`` is every cell at its level,
    ``coarse`` every cell one level lower.
    """
    diff = (x - baseline).to(torch.float64).reshape(-1).numpy()
    n_cells = len(edges) - 1
    width = np.diff(edges)
    dim = diff.size
    level = np.zeros(n_cells, dtype=np.int64)
    # per cell, float32: fine (current level) and coarse (one level lower) vectors
    cell_ig = np.zeros((n_cells, 2, dim), dtype=np.float32)
    cell_idg = np.zeros((n_cells, 2, dim), dtype=np.float32)
    cell_scal = np.zeros((n_cells, 2, 2))  # (fine, coarse) x (sum w F', sum w F'^2)
    all_a: list[np.ndarray] = []
    all_f: list[np.ndarray] = []
    all_fp: list[np.ndarray] = []
    t0 = time.perf_counter()
    points = 0

    def raw_sums(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Unweighted per-point g*diff and F'*g*diff (float64), F', F at ``pts``."""
        vs, fs, fps = [], [], []
        for lo in range(0, len(pts), chunk):
            v, fp, g = _gradients(model, x, baseline, target, pts[lo : lo + chunk])
            vs.append(g.numpy() * diff)
            fs.append(v)
            fps.append(fp)
        all_a.append(pts)
        all_f.append(np.concatenate(fs))
        all_fp.append(np.concatenate(fps))
        return np.concatenate(vs), np.concatenate(fps), np.concatenate(fs), pts

    def refine(cells: list[int]) -> None:
        nonlocal points
        pts = [_new_points(edges[c], edges[c + 1], level[c] + 1) for c in cells]
        v, fp, _, _ = raw_sums(np.concatenate(pts))
        points += len(v)
        off = 0
        for c, p in zip(cells, pts):
            n_new = len(p)
            vv, ff = v[off : off + n_new], fp[off : off + n_new]
            off += n_new
            new_level = level[c] + 1
            w = width[c] / 3**new_level
            for store, add in ((cell_ig, w * vv.sum(0)), (cell_idg, w * (ff[:, None] * vv).sum(0))):
                old_fine = store[c, 0].astype(np.float64)
                store[c, 1] = old_fine
                store[c, 0] = (old_fine / 3 + add).astype(np.float32)
            old = cell_scal[c, 0].copy()
            cell_scal[c, 1] = old
            cell_scal[c, 0] = (old[0] / 3 + w * ff.sum(), old[1] / 3 + w * (ff**2).sum())
            level[c] = new_level

    # level 0 (centres) then level 1 (3 points) for every cell
    per_round = max(1, chunk * 8)
    for target_level in (0, 1):
        cells = [c for c in range(n_cells) if level[c] < target_level or target_level == 0]
        for lo in range(0, len(cells), max(1, per_round // (1 + 2 * target_level))):
            batch = cells[lo : lo + max(1, per_round // (1 + 2 * target_level))]
            if target_level == 0:
                # level 0 is one point per cell: the centre (weight h)
                c_pts = np.array([(edges[c] + edges[c + 1]) / 2 for c in batch])
                v, fp, _, _ = raw_sums(c_pts)
                points += len(v)
                for i, c in enumerate(batch):
                    cell_ig[c, 0] = width[c] * v[i]
                    cell_idg[c, 0] = width[c] * fp[i] * v[i]
                    cell_scal[c, 0] = (width[c] * fp[i], width[c] * fp[i] ** 2)
            else:
                refine(batch)
        if log is not None:
            log(f"  level {target_level}: {points} points, {time.perf_counter() - t0:.0f} s")
        if target_level == 0:
            level[:] = 0

    def totals() -> tuple[np.ndarray, np.ndarray]:
        return cell_ig.astype(np.float64).sum(0), cell_idg.astype(np.float64).sum(0)

    rounds = 0
    while points < total_points:
        ig_t, idg_t = totals()
        d_ig = np.linalg.norm((cell_ig[:, 0] - cell_ig[:, 1]).astype(np.float64), axis=1)
        d_idg = np.linalg.norm((cell_idg[:, 0] - cell_idg[:, 1]).astype(np.float64), axis=1)
        score = (d_ig / np.linalg.norm(ig_t[0])) ** 2 + (d_idg / np.linalg.norm(idg_t[0])) ** 2
        cost = 2 * 3**level
        order = np.argsort(-score / cost)
        chosen: list[int] = []
        spend = 0
        for c in order:
            if spend + cost[c] > min(per_round, total_points - points) and chosen:
                break
            chosen.append(int(c))
            spend += int(cost[c])
        if spend > total_points - points:
            break
        refine(chosen)
        rounds += 1
        if log is not None and rounds % 5 == 0:
            log(
                f"  refinement: {points} points, levels {np.bincount(level).tolist()}, "
                f"{time.perf_counter() - t0:.0f} s"
            )
    ig_t, idg_t = totals()
    sc = cell_scal.sum(0)
    order = np.argsort(np.concatenate(all_a), kind="stable")
    return NestedSums(
        ig_t[0],
        ig_t[1],
        idg_t[0],
        idg_t[1],
        float(sc[0, 0]),
        float(sc[1, 0]),
        float(sc[0, 1]),
        float(sc[1, 1]),
        points,
        edges,
        level,
        np.concatenate(all_a)[order],
        np.concatenate(all_f)[order],
        np.concatenate(all_fp)[order],
    )


# --------------------------------------------------------------------------- cache


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_cached(name: str, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``CACHE/name.npz`` and ``config`` + its SHA-256 to ``name.json``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.npz"
    tmp = CACHE / f"{name}.tmp.npz"
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)
    meta = {"config": config, "sha256": _digest(path)}
    (CACHE / f"{name}.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return path


def load_cached(name: str, config: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays of ``name`` if its configuration and hash match, else None."""
    path, meta_path = CACHE / f"{name}.npz", CACHE / f"{name}.json"
    if not (path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("config") != json.loads(json.dumps(config)) or meta.get("sha256") != _digest(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# --------------------------------------------------------------------------- EfficientNet


EFFICIENTNET_CONFIG: dict[str, Any] = {
    "version": 2,
    "pilot": 1024,
    "cells": 320,
    "uniform_share": 0.4,
    "power": 2 / 3,
    "total_points": 3000,
    "chunk": 16,
}


@dataclass
class Reference:
    """Reference attributions of one example (float64, flattened) and their own error."""

    name: str
    ig: np.ndarray
    idg: np.ndarray
    ig_gap: float
    idg_gap: float
    start: float
    end: float
    target: int | None
    points: int
    seconds: float
    arrays: dict[str, np.ndarray]

    def note(self) -> str:
        return (
            f"{self.name}: {self.points} gradient points; fine-coarse distance IG "
            f"{self.ig_gap:.1e}, IDG {self.idg_gap:.1e} (own error ~1/2.8 of that)"
        )


def _reference_from_arrays(name: str, arr: dict[str, np.ndarray]) -> Reference:
    change = float(arr["end"] - arr["start"])
    idg = arr["idg_fine"] * change / float(arr["fp2_fine"])
    idg_c = arr["idg_coarse"] * change / float(arr["fp2_coarse"])
    ig, ig_c = arr["ig_fine"], arr["ig_coarse"]
    target = int(arr["target"])
    return Reference(
        name,
        ig,
        idg,
        float(np.linalg.norm(ig - ig_c) / np.linalg.norm(ig)),
        float(np.linalg.norm(idg - idg_c) / np.linalg.norm(idg)),
        float(arr["start"]),
        float(arr["end"]),
        None if target < 0 else target,
        int(arr["points"]),
        float(arr["seconds"]),
        arr,
    )


def efficientnet_reference(
    photo: str, log: Callable[[str], None] | None = print, compute: bool = True
) -> Reference | None:
    """The cached (or freshly computed) reference for one photo on EfficientNet-Lite0.

    Baseline 0 in model space, target = predicted class, float32 model, float64 sums.
    """
    from benchmarks._common import efficientnet, photo_batch

    config = dict(EFFICIENTNET_CONFIG, photo=photo)
    name = f"efficientnet_{photo}"
    arr = load_cached(name, config)
    if arr is not None:
        return _reference_from_arrays(name, arr)
    if not compute:
        return None
    t0 = time.perf_counter()
    model = efficientnet()
    _, x = photo_batch([photo])
    baseline = torch.zeros_like(x)
    with torch.no_grad():
        target = int(model(x).argmax(1))
    grid = np.linspace(0.0, 1.0, config["pilot"] + 1)
    pilot = forward_values(model, x, baseline, target, grid)
    if log:
        log(
            f"{photo}: pilot done ({time.perf_counter() - t0:.0f} s), F {pilot[0]:.3f} -> "
            f"{pilot[-1]:.3f}"
        )
    edges = graded_edges(pilot, config["cells"], config["uniform_share"], config["power"])
    sums = nested_midpoint_sums(
        model, x, baseline, target, edges, config["total_points"], config["chunk"], log
    )
    arrays = {
        "ig_fine": sums.ig_fine,
        "ig_coarse": sums.ig_coarse,
        "idg_fine": sums.idg_fine,
        "idg_coarse": sums.idg_coarse,
        "fp_fine": np.array(sums.fp_fine),
        "fp_coarse": np.array(sums.fp_coarse),
        "fp2_fine": np.array(sums.fp2_fine),
        "fp2_coarse": np.array(sums.fp2_coarse),
        "start": np.array(pilot[0]),
        "end": np.array(pilot[-1]),
        "target": np.array(target),
        "points": np.array(sums.points),
        "seconds": np.array(time.perf_counter() - t0),
        "pilot": pilot,
        "cell_edges": sums.cell_edges,
        "cell_level": sums.cell_level,
        "alphas": sums.alphas,
        "outputs": sums.outputs,
        "derivatives": sums.derivatives,
    }
    save_cached(name, config, arrays)
    ref = _reference_from_arrays(name, arrays)
    if log:
        log(ref.note() + f" ({ref.seconds:.0f} s)")
    return ref


def main(argv: list[str] | None = None) -> None:
    import argparse

    from idgrad.zoo import photo_names

    parser = argparse.ArgumentParser(description="compute and cache the EfficientNet references")
    parser.add_argument("--photos", default=",".join(photo_names()))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for photo in args.photos.split(","):
        efficientnet_reference(photo, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()

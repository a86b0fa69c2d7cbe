"""Scalar targets for models that predict tracks (per-position outputs) or profile + counts.

Each factory returns a callable ``output -> (n,)`` to pass as ``target=`` to
:func:`idgrad.integrated_gradients` / :func:`idgrad.integrated_decision_gradients`; the core
applies it to the model output for a chunk of path points, so it must (and does) act row-wise.
:func:`window_targets` returns a list of them, one per window along the sequence, to pass as
``targets=`` (several targets in one call, :mod:`idgrad.core.fan`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

__all__ = ["counts_target", "profile_target", "track_target", "window_targets"]

Reduce = Literal["sum", "mean"]
TrackLayout = Literal["NLT", "NTL"]


def _check_reduce(reduce: str) -> None:
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")


def _check_window(window: tuple[int, int] | None) -> None:
    if window is None:
        return
    if (
        not isinstance(window, (tuple, list))
        or len(window) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in window)
    ):
        raise TypeError(f"window must be a (start, stop) pair of ints or None, got {window!r}")
    start, stop = window
    if start < 0 or stop <= start:
        raise ValueError(f"window must satisfy 0 <= start < stop, got {tuple(window)}")


def _check_tracks(tracks: Sequence[int] | int | None) -> list[int] | None:
    if tracks is None:
        return None
    if isinstance(tracks, bool):
        raise TypeError("tracks must be None, an int or a list of ints, not a bool")
    if isinstance(tracks, int):
        return [tracks]
    items = list(tracks)
    if not items or not all(isinstance(t, int) and not isinstance(t, bool) for t in items):
        raise TypeError(f"tracks must be None, an int or a non-empty list of ints, got {tracks!r}")
    return items


def _as_nlt(output: Any, layout: str, what: str) -> torch.Tensor:
    """Bring a track output to ``(n, L, T)``; ``(n, L)`` is one track."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"{what} expects a tensor output, got {type(output).__name__}")
    if output.dim() == 2:
        return output[:, :, None]
    if output.dim() != 3:
        raise ValueError(
            f"{what} expects an (n, L, T) or (n, L) output, got shape {tuple(output.shape)}"
        )
    return output if layout == "NLT" else output.transpose(1, 2)


def _select(
    nlt: torch.Tensor, window: tuple[int, int] | None, tracks: list[int] | None, what: str
) -> torch.Tensor:
    length, n_tracks = nlt.shape[1], nlt.shape[2]
    if window is not None:
        if window[1] > length:
            raise ValueError(f"{what}: window {tuple(window)} reaches past the length {length}")
        nlt = nlt[:, window[0] : window[1]]
    if tracks is not None:
        bad = [t for t in tracks if not -n_tracks <= t < n_tracks]
        if bad:
            raise ValueError(f"{what}: tracks {bad} out of range for {n_tracks} track(s)")
        nlt = nlt[:, :, tracks]
    return nlt


def track_target(
    window: tuple[int, int] | None = None,
    tracks: Sequence[int] | int | None = None,
    reduce: Reduce = "sum",
    layout: TrackLayout = "NLT",
    *,
    resolution: int = 1,
    offset: int = 0,
    head: int | str | None = None,
) -> Callable[[Any], torch.Tensor]:
    """Target that sums (or averages) a window of positions of some tracks of an output.

    For an output ``y`` of shape ``(n, L, T)`` (``layout="NLT"``; ``"NTL"`` for ``(n, T, L)``;
    ``(n, L)`` is one track) the target is

    ``t(y)_k = Σ_{i ∈ [start, stop)} Σ_{j ∈ tracks} y[k, i, j]``  (``reduce="sum"``),

    or that sum divided by the number of terms (``reduce="mean"``).

    **Binned outputs** (``resolution = r > 1``, as Enformer's or Borzoi's 128-bp and 32-bp bins):
    ``window`` is then in input positions (base pairs), and output bin ``i`` covers the input
    positions ``[offset + i r, offset + (i + 1) r)`` (``offset``: the input positions cropped
    before the first bin). Each bin counts with the fraction of it inside the window,

    ``t(y)_k = Σ_i w_i Σ_{j ∈ tracks} y[k, i, j]``,
    ``w_i = |[start, stop) ∩ bin_i| / r``,

    so a window that covers whole bins sums them, and half a bin counts half (``reduce="mean"``
    divides by ``Σ_i w_i`` times the number of tracks). ``resolution=1, offset=0`` is the
    per-position case above.

    Args:
        window: ``(start, stop)`` positions, Python slice semantics; ``None`` for all.
        tracks: track indices (an int or a list); ``None`` for all.
        reduce: ``"sum"`` or ``"mean"``.
        layout: ``"NLT"`` or ``"NTL"``.
        resolution: input positions per output bin.
        offset: input position where the first output bin starts.
        head: for a model returning several heads (a tuple, list or dict), the index or key
            of the track head; None when the model returns the tracks alone.

    Example:
        >>> y = torch.arange(12.0).reshape(1, 4, 3)  # n=1, L=4, T=3
        >>> track_target(window=(1, 3), tracks=[0, 2])(y)  # 3 + 5 + 6 + 8
        tensor([22.])
        >>> bins = torch.tensor([[1.0, 10.0, 100.0]])  # 3 bins of 128 bp, one track
        >>> track_target(window=(64, 256), resolution=128)(bins)  # half of bin 0, all of bin 1
        tensor([10.5000])
    """
    _check_window(window)
    chosen = _check_tracks(tracks)
    _check_reduce(reduce)
    if layout not in ("NLT", "NTL"):
        raise ValueError(f"layout must be 'NLT' or 'NTL', got {layout!r}")
    for name, value, low in (("resolution", resolution, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if window is not None and window[0] < offset:
        raise ValueError(f"track_target: window {tuple(window)} starts before offset {offset}")
    binned = resolution > 1 or offset > 0

    def target(output: Any) -> torch.Tensor:
        tracks_out = output if head is None else _head(output, head, "track_target")
        nlt = _as_nlt(tracks_out, layout, "track_target")
        if not binned:
            part = _select(nlt, window, chosen, "track_target")
            flat = part.reshape(part.shape[0], -1)
            return flat.sum(dim=1) if reduce == "sum" else flat.mean(dim=1)
        weights = _bin_weights(nlt.shape[1], window, resolution, offset).to(nlt)
        part = _select(nlt, None, chosen, "track_target")
        total = (part * weights[None, :, None]).sum(dim=(1, 2))
        if reduce == "sum":
            return total
        return total / (weights.sum() * part.shape[2])

    return target


def _bin_weights(
    n_bins: int, window: tuple[int, int] | None, resolution: int, offset: int
) -> torch.Tensor:
    """``w_i = |window ∩ [offset + i r, offset + (i + 1) r)| / r`` for each of ``n_bins`` bins."""
    covered = (offset, offset + n_bins * resolution)
    start, stop = covered if window is None else window
    if stop > covered[1]:
        raise ValueError(
            f"track_target: window {(start, stop)} reaches past the input positions "
            f"{covered} that {n_bins} bins of {resolution} cover from offset {offset}"
        )
    lo = offset + torch.arange(n_bins, dtype=torch.float64) * resolution
    overlap = (torch.clamp(lo + resolution, max=stop) - torch.clamp(lo, min=start)).clamp(min=0)
    return overlap / resolution


def _head(output: Any, head: int | str, what: str) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        raise TypeError(
            f"{what} expects a model returning several heads (a tuple, list or dict), got one "
            "tensor; use track_target for a single output"
        )
    try:
        part = output[head]
    except (IndexError, KeyError, TypeError):
        raise ValueError(f"{what}: the model output has no head {head!r}") from None
    if not isinstance(part, torch.Tensor):
        raise TypeError(f"{what}: head {head!r} is a {type(part).__name__}, not a tensor")
    return part


def counts_target(
    head: int | str = 1,
    tracks: Sequence[int] | int | None = None,
    reduce: Reduce = "sum",
) -> Callable[[Any], torch.Tensor]:
    """Target selecting the counts head of a profile model (BPNet / ChromBPNet style).

    Such models return ``(profile, counts)`` with ``counts`` the predicted log total counts,
    ``(n,)`` or ``(n, T)``. The target is ``Σ_{j ∈ tracks} counts[k, j]`` (or the mean): the
    attribution then explains the predicted log-counts, the usual "counts" contribution scores.

    Args:
        head: index (or dict key) of the counts head in the model output.
        tracks: count tracks to use; ``None`` for all.
        reduce: ``"sum"`` or ``"mean"`` over the chosen tracks.

    Example:
        >>> out = (torch.zeros(2, 5, 1), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> counts_target()(out)
        tensor([3., 7.])
        >>> counts_target(tracks=[1])(out)
        tensor([2., 4.])
    """
    chosen = _check_tracks(tracks)
    _check_reduce(reduce)

    def target(output: Any) -> torch.Tensor:
        counts = _head(output, head, "counts_target")
        if counts.dim() == 1:
            counts = counts[:, None]
        if counts.dim() != 2:
            raise ValueError(
                f"counts_target expects counts of shape (n,) or (n, T), got {tuple(counts.shape)}"
            )
        if chosen is not None:
            bad = [t for t in chosen if not -counts.shape[1] <= t < counts.shape[1]]
            if bad:
                raise ValueError(f"counts_target: tracks {bad} out of range for {counts.shape[1]}")
            counts = counts[:, chosen]
        return counts.sum(dim=1) if reduce == "sum" else counts.mean(dim=1)

    return target


def profile_target(
    head: int | str | None = 0,
    window: tuple[int, int] | None = None,
    tracks: Sequence[int] | int | None = None,
    layout: TrackLayout = "NLT",
    *,
    center: bool = True,
) -> Callable[[Any], torch.Tensor]:
    """Target for the profile (shape) head: softmax-weighted logits (BPNet).

    With ``z[k, :, j]`` the profile logits of track ``j`` over the window, the target is
    ``Σ_j Σ_i stopgrad(softmax_i(z))_i · z̄_i``, ``z̄ = z - mean_i z`` (``center=True``, as
    ChromBPNet) or ``z̄ = z`` (``center=False``: ``Σ softmax(z).detach() · z``, BPNet's
    form): the logits weighted by the predicted profile, the weights held constant so only the
    logits carry gradient (the "profile" contribution scores). The softmax does not change with
    the centring; the gradients differ by ``-(1/L) Σ_i ∇z_i`` per track.

    Args:
        head: index (or key) of the profile head; ``None`` when the model returns the profile
            tensor alone.
        window, tracks, layout: as in :func:`track_target`.
        center: subtract the mean logit over the window from the logits.

    Example:
        >>> z = torch.tensor([[[0.0], [0.0]]])  # flat profile, L=2, T=1
        >>> profile_target(head=None)(z)
        tensor([0.])
        >>> z = torch.tensor([[[0.0], [2.0]]])
        >>> profile_target(head=None, center=False)(z)  # (0 + 2 e^2) / (1 + e^2)
        tensor([1.7616])
    """
    if not isinstance(center, bool):
        raise TypeError(f"center must be a bool, got {type(center).__name__}")
    _check_window(window)
    chosen = _check_tracks(tracks)
    if layout not in ("NLT", "NTL"):
        raise ValueError(f"layout must be 'NLT' or 'NTL', got {layout!r}")

    def target(output: Any) -> torch.Tensor:
        logits = output if head is None else _head(output, head, "profile_target")
        part = _select(_as_nlt(logits, layout, "profile_target"), window, chosen, "profile_target")
        centred = part - part.mean(dim=1, keepdim=True) if center else part
        weights = torch.softmax(part, dim=1).detach()
        return (weights * centred).sum(dim=(1, 2))

    return target


def window_targets(
    stop: int,
    width: int,
    *,
    start: int = 0,
    stride: int | None = None,
    tracks: Sequence[int] | int | None = None,
    reduce: Reduce = "sum",
    layout: TrackLayout = "NLT",
    resolution: int = 1,
    offset: int = 0,
    head: int | str | None = None,
) -> list[Callable[[Any], torch.Tensor]]:
    """One :func:`track_target` per window along the sequence, for ``targets=``.

    Window ``k`` covers the positions ``[start + k s, start + k s + width)`` (``s = stride``,
    by default ``width``: windows side by side), for every ``k`` whose window ends at or
    before ``stop``. Positions are input positions (base pairs); with ``resolution = r > 1``
    each window sums the output bins it covers, a partly covered bin with the fraction
    inside (see :func:`track_target`, which takes ``tracks``, ``reduce``, ``layout``,
    ``resolution``, ``offset`` and ``head`` as here). Passed as ``targets=`` to a path
    method, the ``K`` windows share every forward pass on the uniform schedule.

    Example:
        >>> y = torch.arange(8.0).reshape(1, 8)          # one track of 8 positions
        >>> [t(y).item() for t in window_targets(8, 4)]  # 0+1+2+3, 4+5+6+7
        [6.0, 22.0]
        >>> bins = torch.tensor([[1.0, 10.0, 100.0, 1000.0]])  # 4 bins of 32 bp, 1 track
        >>> [t(bins).item() for t in window_targets(128, 64, resolution=32)]
        [11.0, 1100.0]
        >>> [t(bins).item() for t in window_targets(128, 48, stride=40, resolution=32)]
        [6.0, 82.5, 1050.0]
    """
    for name, value, low in (("stop", stop, 1), ("width", width, 1), ("start", start, 0)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    step = width if stride is None else stride
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride!r}")
    if start + width > stop:
        raise ValueError(
            f"window_targets: no window of width {width} fits between start {start} and stop {stop}"
        )
    return [
        track_target(
            (lo, lo + width),
            tracks,
            reduce,
            layout,
            resolution=resolution,
            offset=offset,
            head=head,
        )
        for lo in range(start, stop - width + 1, step)
    ]

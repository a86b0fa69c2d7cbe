"""How well position scores recover a planted-motif mask: top-k precision and AUROC.

Per sequence, against the mask of :func:`~idgrad.genomics.synthetic.planted_motifs` (or
:meth:`~idgrad.genomics.synthetic_profiles.ProfileData.mask`): chance is the mask fraction for
:func:`topk_precision` and 0.5 for :func:`auroc`.
"""

from __future__ import annotations

import torch

__all__ = ["auroc", "topk_precision"]


def _check_scores(scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.as_tensor(scores).detach().to(torch.float64).cpu()
    m = torch.as_tensor(mask).detach().to(torch.bool).cpu()
    if s.shape != m.shape or s.dim() != 2:
        raise ValueError(
            f"scores and mask must both be (N, L), got {tuple(s.shape)} and {tuple(m.shape)}"
        )
    return s, m


def topk_precision(scores: torch.Tensor, mask: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Fraction of the ``k`` top-scored positions of each sequence that lie in the mask.

    ``k`` defaults to the mask size of each sequence (then precision = recall). Rows with an
    empty mask give NaN. Ties are broken by position (stable sort). Chance level is
    ``mask.sum() / L``.

    Example:
        >>> topk_precision(torch.tensor([[0.1, 0.9, 0.8, 0.0]]),
        ...                torch.tensor([[False, True, False, True]]))
        tensor([0.5000], dtype=torch.float64)
    """
    s, m = _check_scores(scores, mask)
    order = torch.argsort(-s, dim=1, stable=True)
    hits = torch.gather(m, 1, order).to(torch.float64)
    out = torch.full((s.shape[0],), float("nan"), dtype=torch.float64)
    for row in range(s.shape[0]):
        kk = int(m[row].sum()) if k is None else k
        if kk > 0 and m[row].any():
            out[row] = hits[row, :kk].mean()
    return out


def auroc(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence area under the ROC curve of ``scores`` for the mask (ties count 1/2).

    ``AUROC = P(score at a random masked position > at a random unmasked one)``, computed from
    average ranks (Mann–Whitney); NaN where the mask is empty or full.

    Example:
        >>> auroc(torch.tensor([[0.1, 0.9, 0.8, 0.0]]), torch.tensor([[False, True, False, True]]))
        tensor([0.5000], dtype=torch.float64)
    """
    s, m = _check_scores(scores, mask)
    out = torch.full((s.shape[0],), float("nan"), dtype=torch.float64)
    for row in range(s.shape[0]):
        pos, neg = s[row][m[row]], s[row][~m[row]]
        if len(pos) == 0 or len(neg) == 0:
            continue
        greater = (pos[:, None] > neg[None, :]).to(torch.float64).sum()
        ties = (pos[:, None] == neg[None, :]).to(torch.float64).sum()
        out[row] = (greater + 0.5 * ties) / (len(pos) * len(neg))
    return out

"""Actual and hypothetical contribution scores, and files for TF-MoDISco.

Conventions (channels-first shown; every function also takes channels-last input):

* **multipliers** ``m`` — what a path method returns with ``multiply_by_inputs=False``: for IG
  the path-averaged gradient ``∫ ∇F dα``, for IDG the importance-weighted one; the attribution
  against reference ``x'`` is ``(x - x') ⊙ m``.
* **actual contributions** ``a_i = x_i · Σ_c A_{c,i}``: the attribution summed over the four
  channels of position ``i`` and placed on the observed base (``0`` at ``N``). For a
  zero reference this is ``A`` itself; for any reference, ``Σ_i a_i = Σ A`` so completeness is
  kept (the part of ``A`` that sits on the reference's base is not dropped, as ``A ⊙ x`` would).
* **hypothetical contributions** ``h_{b,i}`` — the contribution position ``i`` would make if it
  held base ``b`` instead: ``h_{b,i} = E_r[ Σ_c (e_b - x'_r)_{c,i} · m_{r,c,i} ]``
  ``= E_r[ m_{r,b,i} - Σ_c x'_{r,c,i} m_{r,c,i} ]`` (``convention="reference"``, the
  DeepLIFT/DeepSHAP genomics convention; tangermeme and the Kundaje-lab tools do the same). Then
  ``h ⊙ x = a`` exactly, which is what TF-MoDISco assumes when it is given both.
  ``convention="mean"`` instead centres the mean multiplier across the four bases,
  ``h_{b,i} = m̄_{b,i} - (1/4) Σ_c m̄_{c,i}`` (the gradient correction of Majdandzic et al.,
  2023, removing the component orthogonal to the one-hot simplex); it does not depend on the
  references but ``h ⊙ x`` is then no longer the actual contribution.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from idgrad.frameworks.boundary import at_boundary
from idgrad.genomics.expected import expected_attributions
from idgrad.genomics.sequences import (
    _resolve_layout,
    check_one_hot,
    from_channels_first,
    to_channels_first,
)

__all__ = [
    "Contributions",
    "actual_contributions",
    "contribution_scores",
    "hypothetical_contributions",
    "load_modisco_npz",
    "save_modisco_cli_inputs",
    "save_modisco_npz",
]

Convention = Literal["reference", "mean"]


def actual_contributions(
    attributions: torch.Tensor, sequences: torch.Tensor, layout: str | None = None
) -> torch.Tensor:
    """Project attributions onto the observed bases: ``a_{c,i} = x_{c,i} Σ_{c'} A_{c',i}``.

    Args:
        attributions: ``(N, 4, L)`` or ``(N, L, 4)``.
        sequences: the one-hot inputs, same shape.
        layout: ``"NCL"``, ``"NLC"`` or ``None`` to infer it.

    Example:
        >>> from idgrad.genomics import one_hot
        >>> x = one_hot(["AC"])
        >>> attr = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [-0.5, 0.0], [0.0, 0.0]]])
        >>> actual_contributions(attr, x)[0]
        tensor([[0.5000, 0.0000],
                [0.0000, 2.0000],
                [0.0000, 0.0000],
                [0.0000, 0.0000]])
    """
    if attributions.shape != sequences.shape:
        raise ValueError(
            f"attributions {tuple(attributions.shape)} and sequences {tuple(sequences.shape)} "
            "must have the same shape"
        )
    lay = check_one_hot(sequences, layout)
    axis = -2 if lay == "NCL" else -1
    return sequences.to(attributions.dtype) * attributions.sum(dim=axis, keepdim=True)


def hypothetical_contributions(
    multipliers: torch.Tensor,
    references: torch.Tensor | None = None,
    layout: str | None = None,
    convention: Convention = "reference",
) -> torch.Tensor:
    """Hypothetical contributions ``h_{b,i}`` from per-reference multipliers.

    ``convention="reference"``: ``h_{b,i} = mean_r( m_{r,b,i} - Σ_c x'_{r,c,i} m_{r,c,i} )``;
    ``convention="mean"``: ``h_{b,i} = m̄_{b,i} - mean_c m̄_{c,i}`` with ``m̄ = mean_r m_r``.
    See the module docstring for why the first is the default.

    Args:
        multipliers: ``(N, R, 4, L)`` (or ``(N, 4, L)`` for one reference), channels first or
            last.
        references: the references, same shape; needed for ``convention="reference"``.
        layout: ``"NCL"``, ``"NLC"`` or ``None`` to infer it.
        convention: ``"reference"`` or ``"mean"``.

    Returns:
        ``(N, 4, L)`` (or ``(N, L, 4)``).

    Example:
        >>> m = torch.tensor([[[[1.0], [2.0], [3.0], [6.0]]]])  # N=1, R=1, L=1
        >>> ref = torch.tensor([[[[0.0], [1.0], [0.0], [0.0]]]])  # reference base C
        >>> hypothetical_contributions(m, ref)[0, :, 0]
        tensor([-1.,  0.,  1.,  4.])
        >>> hypothetical_contributions(m, convention="mean")[0, :, 0]
        tensor([-2., -1.,  0.,  3.])
    """
    if convention not in ("reference", "mean"):
        raise ValueError(f"convention must be 'reference' or 'mean', got {convention!r}")
    lay = _resolve_layout(multipliers, layout)
    if multipliers.dim() not in (3, 4):
        raise ValueError(
            f"multipliers must be (N, R, 4, L) or (N, 4, L), got {tuple(multipliers.shape)}"
        )
    m = to_channels_first(multipliers, lay)
    m = m if m.dim() == 4 else m[:, None]
    if convention == "mean":
        mean_m = m.mean(dim=1)
        hyp = mean_m - mean_m.mean(dim=1, keepdim=True)
        return from_channels_first(hyp, lay)
    if references is None:
        raise ValueError("convention='reference' needs the references")
    if references.shape != multipliers.shape:
        raise ValueError(
            f"references {tuple(references.shape)} must have the shape of multipliers "
            f"{tuple(multipliers.shape)}"
        )
    ref = to_channels_first(references, lay).to(m.dtype)
    ref = ref if ref.dim() == 4 else ref[:, None]
    at_ref = (ref * m).sum(dim=2, keepdim=True)
    hyp = (m - at_ref).mean(dim=1)
    return from_channels_first(hyp, lay)


class Contributions(NamedTuple):
    """Result of :func:`contribution_scores` (all in the input's layout)."""

    actual: torch.Tensor
    """``(N, 4, L)`` actual contributions ``h ⊙ x`` (with the reference convention, the expected
    attributions projected on the observed bases)."""
    hypothetical: torch.Tensor
    """``(N, 4, L)`` hypothetical contributions."""
    attributions: torch.Tensor
    """``(N, 4, L)`` expected attributions ``mean_r (x - x'_r) ⊙ m_r``."""
    delta: torch.Tensor
    """``(N, R)`` convergence delta of each (input, reference) pair."""


@at_boundary()  # frameworks hook: JAX / callback models and arrays in, out
def contribution_scores(
    method: Callable[..., Any],
    forward_func: Callable[..., Any],
    inputs: torch.Tensor,
    references: torch.Tensor,
    /,
    target: Any = None,
    layout: str | None = None,
    convention: Convention = "reference",
    **method_kwargs: Any,
) -> Contributions:
    """Actual and hypothetical contributions of one-hot inputs, averaged over references.

    Runs ``method`` once on all ``N·R`` pairs with ``multiply_by_inputs=False`` to get the
    multipliers ``m_r``, then ``A = mean_r (x - x'_r) ⊙ m_r``, ``h`` by
    :func:`hypothetical_contributions` and ``a = h ⊙ x``.

    Args:
        method: :func:`idgrad.integrated_gradients`, :func:`idgrad.integrated_decision_gradients`
            or another path method with the core signature.
        forward_func: the model.
        inputs: one-hot ``(N, 4, L)`` or ``(N, L, 4)``.
        references: ``(N, R, 4, L)`` (or ``(N, 4, L)``), e.g. dinucleotide shuffles.
        target: as for ``method`` (see :mod:`idgrad.genomics.targets` for track models).
        layout: ``"NCL"``, ``"NLC"`` or ``None`` to infer it.
        convention: see :func:`hypothetical_contributions`.
        **method_kwargs: passed to ``method`` (``n_steps``, ``internal_batch_size``, IDG's
            ``method="graded"``, …; the first four arguments are positional only, so that
            ``method=`` reaches the path method).

    Example:
        >>> import idgrad
        >>> from idgrad.genomics import one_hot, dinucleotide_shuffle
        >>> w = torch.linspace(-1, 1, 4 * 6, dtype=torch.float64).reshape(4, 6)
        >>> model = lambda x: (x * w).sum(dim=(1, 2))
        >>> x = one_hot(["GATAAG"], dtype=torch.float64)
        >>> c = contribution_scores(idgrad.integrated_gradients, model, x,
        ...                         dinucleotide_shuffle(x, n_shuffles=3, seed=1))
        >>> bool(torch.allclose(c.actual.sum(), c.attributions.sum()))
        True
    """
    if "multiply_by_inputs" in method_kwargs:
        raise TypeError("contribution_scores sets multiply_by_inputs itself")
    lay = check_one_hot(inputs, layout)
    if references.dim() == inputs.dim():
        references = references[:, None]
    expected = expected_attributions.details(
        method,
        forward_func,
        inputs,
        references,
        target=target,
        reduce="none",
        multiply_by_inputs=False,
        **method_kwargs,
    )
    multipliers, delta = expected.attributions, expected.delta
    refs = references.to(multipliers.dtype)
    attributions = ((inputs[:, None].to(multipliers.dtype) - refs) * multipliers).mean(dim=1)
    hyp = hypothetical_contributions(multipliers, refs, lay, convention)
    actual = hyp * inputs.to(hyp.dtype)
    return Contributions(actual, hyp, attributions, delta)


def _to_nlc_numpy(x: torch.Tensor | np.ndarray, layout: str | None, name: str) -> np.ndarray:
    t = torch.as_tensor(x).detach()
    if t.dim() != 3:
        raise ValueError(f"{name} must be (N, 4, L) or (N, L, 4), got shape {tuple(t.shape)}")
    lay = _resolve_layout(t, layout)
    nlc = t if lay == "NLC" else t.transpose(1, 2)
    return nlc.cpu().numpy().astype(np.float32)


def save_modisco_npz(
    path: str | os.PathLike[str],
    sequences: torch.Tensor | np.ndarray,
    contributions: torch.Tensor | np.ndarray,
    hypothetical: torch.Tensor | np.ndarray,
    layout: str | None = None,
) -> str:
    """Save one-hot sequences and scores as float32 ``(N, L, 4)`` arrays in one ``.npz``.

    Keys are ``one_hot``, ``contrib_scores`` and ``hypothetical_contribs``, the shapes and names
    ``modiscolite.tfmodisco.TFMoDISco(one_hot=..., hypothetical_contribs=...)`` takes::

        d = np.load(path)
        TFMoDISco(one_hot=d["one_hot"], hypothetical_contribs=d["hypothetical_contribs"], ...)

    For the ``modisco motifs -s … -a …`` command line, which reads ``arr_0`` in ``(N, 4, L)``,
    use :func:`save_modisco_cli_inputs`.

    Args:
        path: file name (``.npz`` is appended by numpy if missing).
        sequences, contributions, hypothetical: ``(N, 4, L)`` or ``(N, L, 4)``, same shape.
        layout: ``"NCL"``, ``"NLC"`` or ``None`` to infer it.

    Returns:
        The path written.

    Example:
        >>> import tempfile, os
        >>> from idgrad.genomics import one_hot
        >>> x = one_hot(["ACGTA"])
        >>> f = save_modisco_npz(os.path.join(tempfile.mkdtemp(), "scores.npz"), x, x, x)
        >>> load_modisco_npz(f)["hypothetical_contribs"].shape
        (1, 5, 4)
    """
    lay = check_one_hot(torch.as_tensor(sequences), layout)
    seq = _to_nlc_numpy(sequences, lay, "sequences")
    con = _to_nlc_numpy(contributions, lay, "contributions")
    hyp = _to_nlc_numpy(hypothetical, lay, "hypothetical")
    if not seq.shape == con.shape == hyp.shape:
        raise ValueError(
            f"shapes differ: sequences {seq.shape}, contributions {con.shape}, hypothetical "
            f"{hyp.shape} (all as (N, L, 4))"
        )
    out = os.fspath(path)
    if not out.endswith(".npz"):
        out += ".npz"
    np.savez_compressed(out, one_hot=seq, contrib_scores=con, hypothetical_contribs=hyp)
    return out


def load_modisco_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by :func:`save_modisco_npz` into a dict of ``(N, L, 4)`` arrays.

    Nothing is unpickled: an array of Python objects raises ValueError.
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        missing = {"one_hot", "contrib_scores", "hypothetical_contribs"} - set(data.files)
        if missing:
            raise ValueError(f"{os.fspath(path)} lacks arrays {sorted(missing)}")
        return {key: data[key] for key in data.files}


def save_modisco_cli_inputs(
    prefix: str | os.PathLike[str],
    sequences: torch.Tensor | np.ndarray,
    hypothetical: torch.Tensor | np.ndarray,
    layout: str | None = None,
) -> tuple[str, str]:
    """Write ``<prefix>.seqs.npz`` and ``<prefix>.hyp.npz`` for ``modisco motifs -s -a``.

    The tfmodisco-lite command line reads ``arr_0`` of each file as ``(N, 4, L)`` and transposes
    it itself, so these files are channels first (unlike :func:`save_modisco_npz`).

    Returns:
        The two paths, ``(sequences, attributions)``.
    """
    lay = check_one_hot(torch.as_tensor(sequences), layout)
    seq = _to_nlc_numpy(sequences, lay, "sequences").transpose(0, 2, 1)
    hyp = _to_nlc_numpy(hypothetical, lay, "hypothetical").transpose(0, 2, 1)
    if seq.shape != hyp.shape:
        raise ValueError(f"sequences {seq.shape} and hypothetical {hyp.shape} differ in shape")
    base = os.fspath(prefix)
    paths = (base + ".seqs.npz", base + ".hyp.npz")
    np.savez_compressed(paths[0], np.ascontiguousarray(seq))
    np.savez_compressed(paths[1], np.ascontiguousarray(hyp))
    return paths

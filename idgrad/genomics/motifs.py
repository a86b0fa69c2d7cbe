"""TF-MoDISco motifs from contribution scores, end to end (``modisco-lite``, optional).

:func:`modisco` runs ``modiscolite.tfmodisco.TFMoDISco`` (PyPI ``modisco-lite``, the
``modisco`` extra: ``pip install 'idgrad[modisco]'``) on one-hot sequences and hypothetical
contributions in idgrad's ``(N, 4, L)`` layout (or ``(N, L, 4)``), saves the result file
modisco-lite writes (HDF5), reads it back with :func:`read_modisco_h5`, and returns the
patterns. Each :class:`Pattern` has

* ``pwm``: ``(W, 4)`` base probabilities of its aligned seqlets (rows sum to 1);
* ``cwm``: ``(W, 4)`` mean actual contributions (the contribution weight matrix), and
  ``hypothetical_cwm`` the mean hypothetical contributions;
* ``seqlets``: :class:`Seqlet` ``(example, start, end, strand)``, ``example`` being the index
  of the sequence in the arrays given (stable: nothing is reordered or dropped), ``[start,
  end)`` its positions in that sequence, ``strand`` ``"+"`` or ``"-"`` (the pattern matches
  the reverse complement of those positions).

The result file is read with ``h5py`` only (nothing is unpickled) and checked: every array is
numeric and finite where it must be, every pattern's matrices are ``(W, 4)``, every seqlet lies
inside a sequence that was given. A file that fails a check raises ``ValueError`` naming the
entry.

:func:`pwm_similarity` scores a pattern against a known motif (Pearson correlation over aligned
columns, best offset and strand), and :func:`modisco_from_files` does the whole step from a file
written by :func:`~idgrad.genomics.save_modisco_npz` (what a command-line step calls).

Example:
    >>> import numpy as np
    >>> gata = np.eye(4)[[0, 2, 0, 3, 0, 0]]  # AGATAA as a (6, 4) PWM
    >>> round(pwm_similarity(gata, gata[::-1, ::-1]), 6)  # its reverse complement
    1.0
"""

from __future__ import annotations

import inspect
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from idgrad.genomics._files import OutputError, check_destination, optional_module, staged
from idgrad.genomics.contributions import load_modisco_npz
from idgrad.genomics.sequences import _resolve_layout, check_one_hot

__all__ = [
    "ModiscoResults",
    "Pattern",
    "Seqlet",
    "modisco",
    "pwm_similarity",
    "read_modisco_h5",
    "modisco_from_files",
]


class Seqlet(NamedTuple):
    """One occurrence of a pattern: positions ``[start, end)`` of sequence ``example``."""

    example: int
    start: int
    end: int
    strand: Literal["+", "-"]


@dataclass(frozen=True)
class Pattern:
    """A motif found by TF-MoDISco (arrays ``(W, 4)`` in ``ACGT`` order)."""

    name: str
    """Where it is in the result file, e.g. ``"pos_patterns/pattern_0"``."""
    sign: int
    """``+1`` for a pattern of positive contributions, ``-1`` for negative ones."""
    pwm: np.ndarray
    """``(W, 4)`` base probabilities (rows sum to 1)."""
    cwm: np.ndarray
    """``(W, 4)`` mean actual contributions of the aligned seqlets."""
    hypothetical_cwm: np.ndarray
    """``(W, 4)`` mean hypothetical contributions."""
    seqlets: list[Seqlet]
    """The aligned occurrences."""
    subpatterns: list[Pattern] = field(default_factory=list)
    """Subclusters of the pattern, if modisco-lite found any."""

    @property
    def consensus(self) -> str:
        """The most probable base at each position (upper case where ``p >= 0.5``)."""
        letters = []
        for row in self.pwm:
            b = "ACGT"[int(np.argmax(row))]
            letters.append(b if row.max() >= 0.5 else b.lower())
        return "".join(letters)


class ModiscoResults(NamedTuple):
    """Result of :func:`modisco`."""

    patterns: list[Pattern]
    """Positive patterns first, then negative ones, each in modisco-lite's order."""
    path: str | None
    """The result file, or None when it was written to a temporary folder and removed."""
    window_size: int
    """The ``sliding_window_size`` modisco-lite recorded."""


def _nlc_float32(x: Any, layout: str | None, name: str, like: tuple[int, ...] | None) -> np.ndarray:
    t = torch.as_tensor(x).detach()
    if t.dim() != 3:
        raise ValueError(f"{name} must be (N, 4, L) or (N, L, 4), got shape {tuple(t.shape)}")
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold numbers, got {t.dtype}")
    lay = _resolve_layout(t, layout)
    nlc = t if lay == "NLC" else t.transpose(1, 2)
    out = np.ascontiguousarray(nlc.cpu().numpy(), dtype=np.float32)
    if like is not None and out.shape != like:
        raise ValueError(f"{name} has shape {out.shape} as (N, L, 4), the sequences {like}")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return out


def _check_options(options: dict[str, Any], run: Callable[..., Any]) -> None:
    accepted = set(inspect.signature(run).parameters) - {"one_hot", "hypothetical_contribs"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"modisco-lite's TFMoDISco takes no option(s) {unknown}; it takes {sorted(accepted)}"
        )


def modisco(
    sequences: torch.Tensor | np.ndarray,
    contributions: torch.Tensor | np.ndarray | None,
    hypothetical: torch.Tensor | np.ndarray,
    *,
    layout: str | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> ModiscoResults:
    """Find motifs with TF-MoDISco (modisco-lite) and return them with their seqlets.

    modisco-lite takes the one-hot sequences ``x`` and the hypothetical contributions ``h``
    and computes the actual contributions itself, as ``h ⊙ x``: ``contributions`` (e.g.
    :attr:`~idgrad.genomics.contributions.Contributions.actual`) is checked against that, so
    that the motifs are found from the scores the caller means, and may be None.

    Args:
        sequences: one-hot ``(N, 4, L)`` or ``(N, L, 4)``, tensor or array.
        contributions: actual contributions, same shape, or None (then ``h ⊙ x``).
        hypothetical: hypothetical contributions, same shape (e.g.
            :func:`~idgrad.genomics.contribution_scores`'s, or centred
            :func:`~idgrad.genomics.ism` effects).
        layout: ``"NCL"``, ``"NLC"`` or None to infer it.
        output: where to keep modisco-lite's result file (``.h5``); None: a temporary file,
            removed after it has been read.
        overwrite: replace ``output`` if it exists (otherwise OutputError, before any
            work).
        **options: passed to ``modiscolite.tfmodisco.TFMoDISco`` (e.g.
            ``sliding_window_size``, ``flank_size``, ``target_seqlet_fdr``,
            ``max_seqlets_per_metacluster``, ``n_leiden_runs``); unknown names raise
            TypeError before the run.

    Returns:
        :class:`ModiscoResults`: the patterns (positive, then negative), the result file and
        the window size.

    Raises:
        ImportError: modisco-lite (or h5py) is not installed.
        ValueError: sequences that are not one-hot, shapes that differ, non-finite scores,
            contributions that are not ``h ⊙ x``, or a result file that fails its checks.

    Example:
        >>> from idgrad.genomics import one_hot, planted_motifs
        >>> data = planted_motifs(300, 60, motifs=["GATAAGCT"], positive_fraction=1.0)
        >>> x = data.sequences
        >>> noise = 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        >>> hyp = (2 * x - 1) * data.mask[:, None] + noise  # +1 on the motif's bases
        >>> found = modisco(x, None, hyp, sliding_window_size=8, flank_size=2, n_leiden_runs=2,
        ...                 trim_to_window_size=12, initial_flank_to_add=3)
        >>> best = found.patterns[0]
        >>> round(pwm_similarity(one_hot("GATAAGCT").T, best.pwm), 3), best.seqlets[0].strand
        (1.0, '+')
    """
    tfmodisco = optional_module("modiscolite.tfmodisco", "modisco", "modisco")
    io = optional_module("modiscolite.io", "modisco", "modisco")
    optional_module("h5py", "modisco", "modisco")
    _check_options(options, tfmodisco.TFMoDISco)
    out = None if output is None else check_destination(output, overwrite, "modisco")
    seq_t = torch.as_tensor(sequences).detach()
    lay = check_one_hot(seq_t, layout)
    x = _nlc_float32(seq_t, lay, "sequences", None)
    hyp = _nlc_float32(hypothetical, lay, "hypothetical", x.shape)
    if contributions is not None:
        con = _nlc_float32(contributions, lay, "contributions", x.shape)
        implied = hyp * x
        scale = max(float(np.abs(implied).max()), float(np.abs(con).max()), 1e-30)
        worst = float(np.abs(con - implied).max())
        if worst > 1e-5 * scale:
            n, i, _ = np.unravel_index(int(np.argmax(np.abs(con - implied))), con.shape)
            raise ValueError(
                "contributions are not hypothetical ⊙ one-hot (modisco-lite computes them so): "
                f"they differ by {worst:.3g} (of at most {scale:.3g}) at sequence {n}, position "
                f"{i}; pass contributions=None, or the contributions that go with these "
                "hypothetical scores (convention='reference')"
            )
    pos, neg = tfmodisco.TFMoDISco(one_hot=x, hypothetical_contribs=hyp, **options)
    window = int(
        options.get(
            "sliding_window_size",
            inspect.signature(tfmodisco.TFMoDISco).parameters["sliding_window_size"].default,
        )
    )
    n, length = x.shape[0], x.shape[1]
    if out is None:
        with tempfile.TemporaryDirectory(prefix="idgrad-modisco-") as folder:
            path = os.path.join(folder, "modisco_results.h5")
            io.save_hdf5(path, pos, neg, window)
            patterns, size = _read(path, n, length)
        return ModiscoResults(patterns, None, size)
    with staged(out, overwrite, ".h5") as tmp:
        io.save_hdf5(tmp, pos, neg, window)
        patterns, size = _read(tmp, n, length)
    return ModiscoResults(patterns, out, size)


def read_modisco_h5(
    path: str | os.PathLike[str],
    n_examples: int | None = None,
    length: int | None = None,
) -> list[Pattern]:
    """Read and check a result file written by modisco-lite (``modisco motifs`` or :func:`modisco`).

    Only numbers are read (``h5py``; nothing is unpickled). With ``n_examples`` and
    ``length`` (the number and length of the sequences the run was given) every seqlet is also
    checked to lie inside them.

    Returns:
        The patterns, positive ones first.

    Raises:
        ValueError: naming the first entry that is missing, not numeric, of the wrong shape,
            not finite, or a seqlet outside the sequences.
    """
    return _read(os.fspath(path), n_examples, length)[0]


_PATTERN = re.compile(r"^pattern_(\d+)$")
_SUBPATTERN = re.compile(r"^subpattern_(\d+)$")


def _read(path: str, n_examples: int | None, length: int | None) -> tuple[list[Pattern], int]:
    h5py = optional_module("h5py", "modisco", "reading a modisco-lite file")
    patterns: list[Pattern] = []
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("window_size", -1)
        window = int(np.asarray(raw).reshape(-1)[0]) if np.size(raw) else -1
        for group, sign in (("pos_patterns", 1), ("neg_patterns", -1)):
            if group not in f:
                continue
            node = f[group]
            if not isinstance(node, h5py.Group):
                raise ValueError(f"{path}: {group} is not a group")
            for key in _numbered(node, _PATTERN):
                patterns.append(
                    _read_pattern(h5py, node[key], f"{group}/{key}", sign, n_examples, length)
                )
    return patterns, window


def _numbered(group: Any, pattern: re.Pattern[str]) -> list[str]:
    keys = [k for k in group if pattern.match(k)]
    return sorted(keys, key=lambda k: int(pattern.match(k).group(1)))  # type: ignore[union-attr]


def _array(h5py: Any, group: Any, key: str, where: str, kinds: str) -> np.ndarray:
    if key not in group:
        raise ValueError(f"modisco result: {where}/{key} is missing")
    node = group[key]
    if not isinstance(node, h5py.Dataset):
        raise ValueError(f"modisco result: {where}/{key} is not a dataset")
    if node.dtype.kind not in kinds:
        raise ValueError(
            f"modisco result: {where}/{key} has dtype {node.dtype}, expected numbers "
            f"(kinds {kinds!r})"
        )
    return np.asarray(node[()])


def _read_pattern(
    h5py: Any, group: Any, where: str, sign: int, n_examples: int | None, length: int | None
) -> Pattern:
    if not isinstance(group, h5py.Group):
        raise ValueError(f"modisco result: {where} is not a group")
    mats = {}
    for key in ("sequence", "contrib_scores", "hypothetical_contribs"):
        m = _array(h5py, group, key, where, "fiu").astype(np.float64)
        if m.ndim != 2 or m.shape[1] != 4 or m.shape[0] == 0:
            raise ValueError(f"modisco result: {where}/{key} has shape {m.shape}, not (W, 4)")
        if not np.isfinite(m).all():
            raise ValueError(f"modisco result: {where}/{key} holds NaN or infinite values")
        mats[key] = m
    widths = {m.shape[0] for m in mats.values()}
    if len(widths) != 1:
        raise ValueError(f"modisco result: the matrices of {where} differ in width {widths}")
    seq = mats["sequence"]
    if (seq < -1e-6).any() or (seq.sum(axis=1) > 1 + 1e-4).any():
        raise ValueError(f"modisco result: {where}/sequence is not a matrix of base frequencies")
    totals = seq.sum(axis=1, keepdims=True)
    pwm = np.where(totals > 0, seq / np.where(totals > 0, totals, 1.0), 0.25)
    seqlets = _read_seqlets(h5py, group, where, n_examples, length)
    subs = [
        _read_pattern(h5py, group[key], f"{where}/{key}", sign, n_examples, length)
        for key in _numbered(group, _SUBPATTERN)
    ]
    return Pattern(
        name=where,
        sign=sign,
        pwm=pwm,
        cwm=mats["contrib_scores"],
        hypothetical_cwm=mats["hypothetical_contribs"],
        seqlets=seqlets,
        subpatterns=subs,
    )


def _read_seqlets(
    h5py: Any, group: Any, where: str, n_examples: int | None, length: int | None
) -> list[Seqlet]:
    if "seqlets" not in group or not isinstance(group["seqlets"], h5py.Group):
        raise ValueError(f"modisco result: {where}/seqlets is missing")
    sg, at = group["seqlets"], f"{where}/seqlets"
    count = _array(h5py, sg, "n_seqlets", at, "iu").reshape(-1)
    if count.size != 1 or int(count[0]) < 0:
        raise ValueError(f"modisco result: {at}/n_seqlets is not one count")
    n = int(count[0])
    if n == 0 and "start" not in sg:
        return []
    cols = {k: _array(h5py, sg, k, at, "iu").reshape(-1) for k in ("start", "end", "example_idx")}
    rc = _array(h5py, sg, "is_revcomp", at, "biu").reshape(-1)
    for key, col in [*cols.items(), ("is_revcomp", rc)]:
        if col.shape[0] != n:
            raise ValueError(f"modisco result: {at}/{key} has {col.shape[0]} entries, not {n}")
    start, end, example = (cols[k].astype(np.int64) for k in ("start", "end", "example_idx"))
    bad = (start < 0) | (end <= start) | (example < 0)
    if n_examples is not None:
        bad |= example >= n_examples
    if length is not None:
        bad |= end > length
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"modisco result: seqlet {i} of {where} (example {example[i]}, positions "
            f"[{start[i]}, {end[i]})) lies outside the {n_examples} sequences of length {length}"
        )
    return [
        Seqlet(int(e), int(s), int(t), "-" if bool(r) else "+")
        for e, s, t, r in zip(example, start, end, rc)
    ]


def pwm_similarity(
    motif: np.ndarray | torch.Tensor,
    pattern: np.ndarray | torch.Tensor,
    *,
    min_overlap: int | None = None,
) -> float:
    """Best Pearson correlation of two ``(w, 4)`` base-probability matrices over alignments.

    For every strand of ``motif`` (its reverse complement is ``motif[::-1, ::-1]``) and every
    offset where the two overlap in at least ``min_overlap`` columns (default: the narrower
    width, i.e. one lies inside the other), the ``4 × overlap`` probabilities of the aligned
    columns are correlated (Pearson); the largest value is returned. Columns of equal
    probabilities carry no information and count like any others, so a motif matched against a
    wide pattern is judged on the pattern's columns where it sits. 1 is a perfect match; a
    random ``(w, 4)`` window scores around 0.

    Example:
        >>> import numpy as np
        >>> a = np.eye(4)[[0, 2, 0, 3]]  # AGAT
        >>> wide = np.vstack([np.full((3, 4), 0.25), a, np.full((2, 4), 0.25)])
        >>> round(pwm_similarity(a, wide), 6)
        1.0
    """
    m, p = (
        v.detach().cpu().to(torch.float64).numpy()
        if isinstance(v, torch.Tensor)
        else np.array(v, dtype=np.float64)
        for v in (motif, pattern)
    )
    for name, v in (("motif", m), ("pattern", p)):
        if v.ndim != 2 or v.shape[1] != 4 or v.shape[0] == 0:
            raise ValueError(f"{name} must be a (w, 4) matrix, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError(f"{name} holds NaN or infinite values")
    need = min(len(m), len(p)) if min_overlap is None else int(min_overlap)
    if not 1 <= need <= min(len(m), len(p)):
        raise ValueError(f"min_overlap must be in [1, {min(len(m), len(p))}], got {min_overlap}")
    best = -1.0
    for q in (m, m[::-1, ::-1]):
        for shift in range(-(len(q) - need), len(p) - need + 1):
            lo, hi = max(0, shift), min(len(p), shift + len(q))
            if hi - lo < need:
                continue
            a = q[lo - shift : hi - shift].reshape(-1)
            b = p[lo:hi].reshape(-1)
            a, b = a - a.mean(), b - b.mean()
            denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
            if denom > 0:
                best = max(best, float((a * b).sum()) / denom)
    return best


def modisco_from_files(
    scores: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    logos: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> ModiscoResults:
    """TF-MoDISco from a file of scores; the result file and, optionally, one logo per pattern.

    ``scores`` is a file written by :func:`~idgrad.genomics.save_modisco_npz` (``one_hot``,
    ``contrib_scores``, ``hypothetical_contribs``, all ``(N, L, 4)``). modisco-lite's result
    goes to ``output`` (``.h5``); with ``logos`` (a folder, created if missing) the CWM of each
    pattern is drawn to ``<logos>/<pos|neg>_pattern_<i>.png`` (needs matplotlib). Nothing
    that exists is replaced unless ``overwrite``, the scores never; every destination is
    checked before the run (:class:`~idgrad.ops.outputs.OutputError`).

    Args:
        scores: the ``.npz`` of scores.
        output: the ``.h5`` result file to write.
        logos: folder for the logos, or None.
        overwrite: replace existing files.
        **options: passed to :func:`modisco`.

    Returns:
        What :func:`modisco` returns.
    """
    arrays = load_modisco_npz(scores)
    out = check_destination(output, overwrite, "modisco", inputs=(scores,))
    logo_paths: list[str] = []
    if logos is not None:
        folder = os.fspath(logos)
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise OutputError(f"logos: {folder} is not a folder")
        if os.path.isdir(folder) and not overwrite:
            clash = sorted(n for n in os.listdir(folder) if re.match(r"^(pos|neg)_pattern_", n))
            if clash:
                raise OutputError(
                    f"logos: {folder} already holds {clash[:3]}; pass overwrite=True or "
                    "another folder"
                )
    result = modisco(
        arrays["one_hot"],
        arrays["contrib_scores"],
        arrays["hypothetical_contribs"],
        layout="NLC",
        output=out,
        overwrite=overwrite,
        **options,
    )
    if logos is not None:
        from idgrad.genomics.plots import plot_logo

        os.makedirs(folder, exist_ok=True)
        import matplotlib.pyplot as plt

        for pattern in result.patterns:
            name = pattern.name.replace("_patterns/", "_")
            path = os.path.join(folder, f"{name}.png")
            fig, ax = plot_logo(torch.from_numpy(pattern.cwm.T.copy()))
            ax.set_title(f"{pattern.name} ({len(pattern.seqlets)} seqlets)")
            with staged(path, overwrite, ".png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
            plt.close(fig)
            logo_paths.append(path)
    return result

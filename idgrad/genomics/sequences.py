"""One-hot encoding of nucleotide sequences, decoding, and layout helpers.

Two layouts are used throughout :mod:`idgrad.genomics`:

* ``"NCL"`` — ``(N, 4, L)``, channels first, what ``torch.nn.Conv1d`` expects;
* ``"NLC"`` — ``(N, L, 4)``, channels last, what TF-MoDISco and Keras models expect.

An ``N`` (or any base listed in ``unknown``) is encoded as an all-zero column: it carries no
information, and the references in :mod:`idgrad.genomics.references` keep it at zero so it
receives no attribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

__all__ = [
    "Layout",
    "check_one_hot",
    "decode",
    "from_channels_first",
    "infer_layout",
    "one_hot",
    "reverse_complement",
    "to_channels_first",
]

Layout = Literal["NCL", "NLC"]
_LAYOUTS = ("NCL", "NLC")


def _check_alphabet(alphabet: str, unknown: str) -> None:
    if not isinstance(alphabet, str) or len(alphabet) < 2:
        raise ValueError(f"alphabet must be a string of at least 2 letters, got {alphabet!r}")
    if len(set(alphabet.upper())) != len(alphabet):
        raise ValueError(f"alphabet {alphabet!r} has repeated letters (case-insensitive)")
    clash = set(alphabet.upper()) & set(unknown.upper())
    if clash:
        raise ValueError(f"letters {sorted(clash)} are both in alphabet and in unknown")


def _check_layout(layout: str) -> None:
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be 'NCL' or 'NLC', got {layout!r}")


def one_hot(
    sequences: str | Sequence[str],
    layout: Layout = "NCL",
    alphabet: str = "ACGT",
    dtype: torch.dtype = torch.float32,
    unknown: str = "N",
) -> torch.Tensor:
    """One-hot encode one sequence or a batch of equal-length sequences.

    Position ``i`` of a sequence becomes the column ``e_b`` with ``b = alphabet.index(s[i])``:
    ``x[c, i] = 1`` if ``c == b`` else ``0``. Letters are case-insensitive (soft-masked
    lower-case is accepted); letters in ``unknown`` (``N`` by default) become all-zero columns.

    Args:
        sequences: one string, or a list of strings of the same length.
        layout: ``"NCL"`` for ``(N, 4, L)`` or ``"NLC"`` for ``(N, L, 4)``.
        alphabet: the channel order (``"ACGT"``; ``"ACGU"`` for RNA).
        dtype: floating dtype of the result.
        unknown: letters encoded as all-zero columns.

    Returns:
        ``(C, L)`` / ``(L, C)`` for one string, ``(N, C, L)`` / ``(N, L, C)`` for a list.

    Raises:
        ValueError: for a letter outside ``alphabet`` and ``unknown`` (the message names the
            sequence and the position), unequal lengths, or a bad layout.
        TypeError: if ``sequences`` is not a string or a list of strings.

    Example:
        >>> one_hot("ACGN")
        tensor([[1., 0., 0., 0.],
                [0., 1., 0., 0.],
                [0., 0., 1., 0.],
                [0., 0., 0., 0.]])
        >>> one_hot(["AC", "gt"], layout="NLC").shape
        torch.Size([2, 2, 4])
    """
    _check_layout(layout)
    _check_alphabet(alphabet, unknown)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    single = isinstance(sequences, str)
    seqs: Sequence[str] = [sequences] if isinstance(sequences, str) else sequences
    if isinstance(seqs, (bytes, torch.Tensor, np.ndarray)) or not all(
        isinstance(s, str) for s in seqs
    ):
        raise TypeError("sequences must be a string or a list of strings")
    if len(seqs) == 0:
        raise ValueError("sequences is empty")
    length = len(seqs[0])
    for k, s in enumerate(seqs):
        if len(s) != length:
            raise ValueError(
                f"sequences must have equal lengths: sequence 0 has {length}, sequence {k} has "
                f"{len(s)}"
            )
    table = np.full(256, -2, dtype=np.int64)
    for code, letter in enumerate(alphabet):
        table[ord(letter.upper())] = table[ord(letter.lower())] = code
    for letter in unknown:
        table[ord(letter.upper())] = table[ord(letter.lower())] = -1
    out = np.zeros((len(seqs), length, len(alphabet)), dtype=np.float64)
    for k, s in enumerate(seqs):
        try:
            raw = np.frombuffer(s.encode("ascii"), dtype=np.uint8)
        except UnicodeEncodeError:
            raw = None
        codes = None if raw is None else table[raw]
        if codes is None or (codes == -2).any():
            pos = next(i for i, ch in enumerate(s) if not ch.isascii() or table[ord(ch)] == -2)
            raise ValueError(
                f"unknown letter {s[pos]!r} at position {pos} of sequence {k}; expected one of "
                f"{alphabet!r} or {unknown!r}"
            )
        called = codes >= 0
        out[k, np.nonzero(called)[0], codes[called]] = 1.0
    result = torch.from_numpy(out).to(dtype)
    if layout == "NCL":
        result = result.transpose(1, 2).contiguous()
    return result[0] if single else result


def infer_layout(x: torch.Tensor, n_channels: int = 4) -> Layout:
    """Tell ``"NCL"`` from ``"NLC"`` by which of the last two axes has ``n_channels`` entries.

    Works for ``(C, L)``, ``(N, C, L)`` and ``(N, R, C, L)`` (and their channels-last forms).

    Raises:
        ValueError: if neither or both of the last two axes have ``n_channels`` entries (for
            ``L == 4`` pass ``layout=`` explicitly).

    Example:
        >>> infer_layout(torch.zeros(2, 4, 10)), infer_layout(torch.zeros(2, 10, 4))
        ('NCL', 'NLC')
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"expected at least 2 dimensions (channels and length), got {x.dim()}")
    first, last = x.shape[-2] == n_channels, x.shape[-1] == n_channels
    if first and not last:
        return "NCL"
    if last and not first:
        return "NLC"
    if first and last:
        raise ValueError(
            f"cannot infer the layout of shape {tuple(x.shape)}: both of the last two axes have "
            f"{n_channels} entries; pass layout='NCL' or 'NLC'"
        )
    raise ValueError(
        f"shape {tuple(x.shape)} has no axis of {n_channels} channels among its last two; "
        "expected (..., 4, L) or (..., L, 4)"
    )


def _resolve_layout(x: torch.Tensor, layout: str | None, n_channels: int = 4) -> Layout:
    if layout is None:
        return infer_layout(x, n_channels)
    _check_layout(layout)
    axis = -2 if layout == "NCL" else -1
    if x.dim() < 2 or x.shape[axis] != n_channels:
        raise ValueError(
            f"layout {layout!r} needs {n_channels} channels on axis {axis}, got shape "
            f"{tuple(x.shape)}"
        )
    return layout  # type: ignore[return-value]


def to_channels_first(x: torch.Tensor, layout: str | None = None) -> torch.Tensor:
    """Return a view of ``x`` in ``"NCL"`` layout (a no-op for ``"NCL"`` input).

    Example:
        >>> to_channels_first(torch.zeros(3, 10, 4)).shape
        torch.Size([3, 4, 10])
    """
    return x if _resolve_layout(x, layout) == "NCL" else x.transpose(-1, -2)


def from_channels_first(x: torch.Tensor, layout: str) -> torch.Tensor:
    """Inverse of :func:`to_channels_first`: return a view of the ``"NCL"`` tensor in ``layout``.

    Example:
        >>> from_channels_first(torch.zeros(3, 4, 10), "NLC").shape
        torch.Size([3, 10, 4])
    """
    _check_layout(layout)
    return x if layout == "NCL" else x.transpose(-1, -2)


def check_one_hot(x: torch.Tensor, layout: str | None = None, n_channels: int = 4) -> Layout:
    """Check that ``x`` is one-hot (each column is some ``e_b`` or all zero); return its layout.

    Raises:
        ValueError: naming the first position whose column is not one-hot or all-zero.

    Example:
        >>> check_one_hot(one_hot(["ACGTN"]))
        'NCL'
    """
    lay = _resolve_layout(x, layout, n_channels)
    cf = to_channels_first(x.detach(), lay)
    binary = (cf == 0) | (cf == 1)
    ok = binary.all(dim=-2) & (cf.sum(dim=-2) <= 1)
    if not bool(ok.all()):
        bad = tuple(int(i) for i in torch.nonzero(~ok)[0])
        column = cf[bad[:-1]][..., bad[-1]]
        raise ValueError(
            f"not one-hot: the column at index {bad} (leading indices, then position) is "
            f"{column.tolist()}"
        )
    return lay


def decode(x: torch.Tensor, layout: str | None = None, alphabet: str = "ACGT") -> str | list[str]:
    """Turn a one-hot tensor back into letters; an all-zero column becomes ``N``.

    Args:
        x: ``(C, L)`` or ``(N, C, L)`` one-hot tensor (or channels last).
        layout: ``"NCL"``, ``"NLC"`` or ``None`` to infer it.
        alphabet: the channel order.

    Returns:
        A string for a 2-D input, a list of strings for a 3-D input.

    Raises:
        ValueError: if a column is neither one-hot nor all-zero (the message names it).

    Example:
        >>> decode(one_hot(["ACGTN", "TTAGC"]))
        ['ACGTN', 'TTAGC']
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"decode expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (2, 3):
        raise ValueError(f"decode expects (C, L) or (N, C, L), got shape {tuple(x.shape)}")
    lay = check_one_hot(x, layout, len(alphabet))
    cf = to_channels_first(x.detach(), lay)
    batch = cf if cf.dim() == 3 else cf[None]
    letters = np.array(list(alphabet + "N"))
    idx = batch.argmax(dim=1).cpu().numpy()
    idx[(batch.sum(dim=1) == 0).cpu().numpy()] = len(alphabet)
    strings = ["".join(letters[row]) for row in idx]
    return strings if cf.dim() == 3 else strings[0]


def reverse_complement(x: torch.Tensor, layout: str | None = None) -> torch.Tensor:
    """Reverse-complement a one-hot tensor in ``ACGT`` order (flip channels and positions).

    The flip does not depend on the layout, so ``L == 4`` needs no ``layout``.

    Example:
        >>> decode(reverse_complement(one_hot(["AAGCT"])))
        ['AGCTT']
    """
    if layout is not None:
        _resolve_layout(x, layout)
    elif not isinstance(x, torch.Tensor) or x.dim() < 2 or 4 not in x.shape[-2:]:
        raise ValueError("reverse_complement expects a (..., 4, L) or (..., L, 4) tensor")
    return x.flip(-1, -2)

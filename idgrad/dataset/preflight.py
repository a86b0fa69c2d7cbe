"""What a dataset run checks before any example is attributed.

The first example that loads gives the inputs' shapes and dtypes, a digest of its values and
its label (:func:`probe_first_example`); the method then runs its own checks of its options
on it, with a stand-in model that stops it at its first model evaluation
(:func:`check_method_options`). A setting that every example would fail on is a set-up error
raised here, rather than a dataset of failed examples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch

from idgrad.dataset.block_targets import BlockTargets
from idgrad.dataset.collate import item_digest, spec_of
from idgrad.dataset.errors import DatasetError, DatasetItemError, ExampleNamer
from idgrad.dataset.sources import split_item
from idgrad.dataset.store import InputSpec

__all__ = ["Probe", "check_method_options", "first_target", "probe_first_example"]


class Probe(NamedTuple):
    """The first loadable example of a dataset, read before any work."""

    example: int  # its index in the dataset (``index`` would shadow tuple.index)
    spec: InputSpec
    digest: str
    inputs: tuple[torch.Tensor, ...]
    label: Any  # None when the items carry no label


def probe_first_example(dataset: Any, skip_errors: bool, name: ExampleNamer) -> Probe:
    """Index, spec, digest, inputs and label of the first loadable example."""
    for i in range(len(dataset)):
        try:
            inputs, was_tuple, label = split_item(dataset[i])
        except ImportError:
            raise  # a missing package is a set-up error, not a bad example
        except Exception as err:
            if skip_errors:
                continue
            raise DatasetItemError(i, f"{type(err).__name__}: {err}", name(i)) from err
        for k, t in enumerate(inputs):
            if not t.is_floating_point():
                where = f"example {i}" + (f" ({name(i)})" if name(i) is not None else "")
                raise TypeError(
                    f"{where}: input {k} has dtype {t.dtype}; attributions need "
                    "floating-point inputs (convert in the dataset)"
                )
        return Probe(i, spec_of(inputs, was_tuple), item_digest(inputs), inputs, label)
    raise DatasetError("no example of the dataset could be loaded")


class _ModelReached(Exception):
    """Raised by the stand-in model of :func:`check_method_options`: the checks passed."""


def _stand_in(*args: Any, **kwargs: Any) -> Any:
    raise _ModelReached


def check_method_options(
    fn: Callable[..., Any],
    inputs: tuple[torch.Tensor, ...],
    was_tuple: bool,
    target: Any,
    baselines: Any,
    kwargs: Mapping[str, Any],
) -> None:
    """The method's own checks of its options, once, before any example is attributed.

    The method is called on one example with a stand-in for the model that stops it at
    its first model evaluation: every check the method makes before it evaluates the
    model (``n_steps``, the baselines, ``internal_batch_size``, ``rtol``, ...) runs, and
    no model evaluation is spent. A setting that every example would fail on is thus a
    set-up error, raised here, rather than a dataset of failed examples.

    Raises:
        ValueError, TypeError: the method's own error, saying it concerns the settings.
        DatasetError: the method failed otherwise before evaluating the model.
    """
    call = dict(kwargs)
    if baselines is not None:
        call["baselines"] = baselines
    clean = tuple(torch.nan_to_num(t) for t in inputs)  # an example's NaN is its own problem
    try:
        fn.details(  # type: ignore[attr-defined]
            _stand_in, clean if was_tuple else clean[0], target=target, **call
        )
    except _ModelReached:
        return
    except (ValueError, TypeError) as err:
        raise type(err)(
            f"the method's settings are refused (a set-up error, checked before any "
            f"example is attributed): {err}"
        ) from err
    except Exception as err:
        raise DatasetError(
            f"the method failed before evaluating the model (a set-up error, checked "
            f"before any example is attributed): {type(err).__name__}: {err}"
        ) from err


def first_target(targets: BlockTargets, first: Probe, output: Any) -> Any:
    """The target the method gets for the first example (0 if it has none of its own)."""
    labels = None if first.label is None else [first.label]
    try:
        target, _ = targets.for_block([first.example], labels, lambda: output)
    except (ValueError, TypeError):  # e.g. a NaN output: that example's own problem
        return 0
    return target

"""What ``idgrad explain`` and ``idgrad dataset`` share: options, model loading, output checks.

A flag means the same in every command that has it, with the same default: both
commands take the model the same way (:func:`add_model_options`, :func:`load_model`,
through :mod:`idgrad.files.loading`), read images with the same options
(:func:`add_image_options`, :mod:`idgrad.files.images`), name targets with the same words
and default (:func:`add_target_option`, :func:`parse_target`), take the same budget
(:func:`add_steps_options`: ``--steps``, ``--schedule``, ``--rule``, ``--rtol``,
``--max-evaluations``, checked by the library's own rules), memory bound
(:func:`add_internal_batch_size_option`: points per pass), baseline
(:func:`parse_baseline`) and device (:func:`parse_device`), and check where they will
write before any work (:func:`check_output_file`, :func:`check_output_dir`): an input is
never replaced, an existing file only with ``--overwrite`` (:mod:`idgrad.ops.outputs`).

Each group of options lives in its own module (:mod:`idgrad.cli.model_options`,
:mod:`~idgrad.cli.image_options`, :mod:`~idgrad.cli.target_options`,
:mod:`~idgrad.cli.method_options`, :mod:`~idgrad.cli.output_options`,
:mod:`~idgrad.cli.argparse_parts`); the commands import them all from here.

Example:
    >>> parse_target("3"), parse_target("1,2"), parse_target("predicted")
    (3, (1, 2), 'predicted')
"""

from __future__ import annotations

from idgrad.cli.argparse_parts import DeprecatedAlias, HelpFormatter
from idgrad.cli.image_options import (
    add_image_options,
    check_pixels,
    image_size,
    max_image_pixels,
)
from idgrad.cli.method_options import (
    FLAGS,
    add_internal_batch_size_option,
    add_method_option,
    add_steps_options,
    budget,
    check_budget_options,
    parse_baseline,
    resolve_method,
    with_flag,
)
from idgrad.cli.model_options import (
    add_device_option,
    add_model_options,
    load_model,
    parse_device,
)
from idgrad.cli.output_options import (
    OVERWRITE_HINT,
    add_overwrite_option,
    check_output_dir,
    check_output_file,
    inside,
    write_output,
)
from idgrad.cli.target_options import (
    add_target_option,
    parse_target,
    target_message,
    target_text,
)

__all__ = [
    "FLAGS",
    "OVERWRITE_HINT",
    "DeprecatedAlias",
    "HelpFormatter",
    "add_device_option",
    "add_image_options",
    "add_internal_batch_size_option",
    "add_method_option",
    "add_model_options",
    "add_overwrite_option",
    "add_steps_options",
    "add_target_option",
    "budget",
    "check_budget_options",
    "check_output_dir",
    "check_output_file",
    "check_pixels",
    "image_size",
    "inside",
    "load_model",
    "max_image_pixels",
    "parse_baseline",
    "parse_device",
    "parse_target",
    "resolve_method",
    "target_message",
    "target_text",
    "with_flag",
    "write_output",
]

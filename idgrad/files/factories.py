"""The function that builds a model for a state dict, named ``'module:function'``.

``idgrad explain --factory`` and :func:`idgrad.files.loading.load_model` take it by name;
:func:`import_factory` imports it as ``python -m`` would, and says in one line why it cannot.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from idgrad.files.errors import LoadError, first_line

__all__ = ["import_factory"]


def import_factory(spec: str) -> Callable[[], Any]:
    """The function named by ``'module:function'`` (it builds the model for a state dict).

    The module is imported as Python imports it; when it is not found there, the current
    folder is searched too (as ``python -m`` does: ``--factory mynet:make_net`` finds
    ``mynet.py`` in the folder idgrad runs from). That folder is then added at the *end* of
    ``sys.path`` (and stays there, so that the module's own imports of its neighbours
    work), where it never shadows an installed module.

    Raises:
        LoadError: not of that form, or the module or the function cannot be imported
            (saying why: not found, where it was looked for, or the error its import
            raised), in one line.
    """
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise LoadError(f"a factory must look like 'module:function', got {spec!r}")
    module = _import_module(module_name, spec)
    try:
        build = getattr(module, func_name)
    except AttributeError:
        raise LoadError(
            f"cannot import factory {spec!r}: module {module_name!r} ({_where(module)}) has no "
            f"{func_name!r}"
        ) from None
    if not callable(build):
        raise LoadError(f"factory {spec!r} is a {type(build).__name__}, not a function")
    return build  # type: ignore[no-any-return]


def _where(module: Any) -> str:
    return str(getattr(module, "__file__", None) or "built in")


def _import_module(name: str, spec: str) -> Any:
    here = os.getcwd()
    top = name.split(".", 1)[0]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing != name and not name.startswith(missing + "."):
            raise LoadError(
                f"cannot import factory {spec!r}: importing {name!r} failed: {first_line(err)}"
            ) from err  # the module was found; something it imports was not
        searched = here in sys.path or (os.path.abspath("") == here and "" in sys.path)
        local = Path(here, f"{top}.py").is_file() or Path(here, top, "__init__.py").is_file()
        if not local or searched:
            raise LoadError(
                f"cannot import factory {spec!r}: no module named {missing!r} on Python's path "
                f"or in the current folder {here}; run idgrad from the folder that holds "
                f"{top}.py, or add that folder to PYTHONPATH"
            ) from None
    except Exception as err:  # noqa: BLE001 - the module's own code failed while importing
        raise LoadError(
            f"cannot import factory {spec!r}: importing {name!r} raised "
            f"{type(err).__name__}: {first_line(err)}"
        ) from err
    sys.path.append(here)  # as python -m does, but last: it shadows no installed module
    importlib.invalidate_caches()
    try:
        return importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - the module's own code failed while importing
        raise LoadError(
            f"cannot import factory {spec!r}: importing {name!r} (from {here}) raised "
            f"{type(err).__name__}: {first_line(err)}"
        ) from err

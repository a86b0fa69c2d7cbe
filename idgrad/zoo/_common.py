"""What the zoo modules share: importing an optional dependency with a clear error."""

from __future__ import annotations

from typing import Any

from idgrad.ops.extras import install_hint

_ZOO_HINT = install_hint("zoo")


def _require(module: str, feature: str) -> Any:
    """Import an optional dependency or raise an ImportError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{feature} needs the optional package {module!r}; install it with `{_ZOO_HINT}`."
        ) from err

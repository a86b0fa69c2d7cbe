"""How to install an optional extra, said the same way by every error that needs one.

idgrad is not on PyPI yet, so ``pip install idgrad[plot]`` would fetch nothing (or
somebody else's package). :func:`install_hint` names the command that works: when
idgrad runs from its source tree (an editable install, as ``make venv`` makes) an
editable install of that tree with the extra, ``pip install -e "/path/to/idgrad[EXTRA]"``,
which works as pasted from any folder and keeps the install editable; otherwise
``pip install ".[EXTRA]"``, to run in idgrad's source folder. The argument is quoted for
POSIX shells and for Windows' (double quotes, unless the path holds a character that
they do not protect).

Example:
    >>> install_hint("plot").startswith("pip install ")
    True
    >>> "[plot]" in install_hint("plot")
    True
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["install_hint", "source_tree"]


def source_tree() -> Path | None:
    """The folder of idgrad's ``pyproject.toml`` when idgrad runs from source, else None."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    try:
        if pyproject.is_file() and 'name = "idgrad"' in pyproject.read_text(encoding="utf-8"):
            return root
    except OSError:
        return None
    return None


def _quoted(word: str) -> str:
    if any(c in word for c in '"$`\\!'):
        return shlex.quote(word)
    return f'"{word}"'


def install_hint(extra: str) -> str:
    """The ``pip install`` line that brings the optional extra ``extra``."""
    root = source_tree()
    if root is not None:
        return f"pip install -e {_quoted(f'{root}[{extra}]')}"
    return f'pip install ".[{extra}]" (in idgrad\'s source folder; idgrad is not on PyPI yet)'

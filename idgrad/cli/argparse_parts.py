"""argparse pieces of every command: the help formatter, and old option spellings that work."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["DeprecatedAlias", "HelpFormatter"]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and ends each option's help with its default.

    Options whose default is None (or off) say in their own help what happens by default.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option: works as the new one and says so on stderr, once per use."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, note: str, **kw: Any):
        self.new = new
        self.note = note
        super().__init__(option_strings, dest, **kw)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            f"idgrad: warning: {option_string} is deprecated here ({self.note}); use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, True if self.nargs == 0 else values)

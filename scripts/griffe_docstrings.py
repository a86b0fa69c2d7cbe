"""Griffe extension for ``make docs``: idgrad's docstring habits, rendered by mkdocstrings.

idgrad's docstrings are written for ``help()`` and the source as much as for the site. At
build time this extension adapts four habits to mkdocstrings' Google-style parser, without
changing what they say:

* Sphinx roles (``:func:`~idgrad.methods.ig.x```, ``:class:`Details```) become autorefs
  cross-references (``[`x`][idgrad.methods.ig.x]``), so the site links them and strict mode
  fails the build when a target does not exist. Unqualified names are resolved from the
  docstring's own scope (``scoped_crossrefs`` in mkdocs.yml); objects of other libraries
  (torch, numpy, the standard library) have no page here and stay code, and so does
  ``:math:`...```.
* ``Example:`` sections become ``Examples:``, which griffe renders as code (it reads the
  singular as a note).
* ``#:`` comments just above a module constant (Sphinx's convention, used for ``METHODS``,
  ``RULES`` and others) become its docstring, so the constant is documented on the site.
* A group of forwarded arguments documented together (``forward_func, inputs, target: as in
  integrated_gradients``, the names possibly spread over several lines) becomes one entry
  per argument with the shared description.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|mod|data|meth|attr|exc|obj):`(~?)([^`<>]+?)(?:\(\))?`")
MATH = re.compile(r":math:`([^`]+)`")
ARGS_HEADER = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")
EXAMPLE_HEADER = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
NAMES = re.compile(r"^[A-Za-z_*][\w*]*(\s*,\s*[A-Za-z_*][\w*]*)*,?$")


def _link(match: re.Match[str]) -> str:
    short, target = match.group(1) == "~", match.group(2).strip()
    shown = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
    if "." in target.lstrip(".") and not target.startswith(("idgrad.", ".")):
        return f"`{shown}`"  # another library's object: no page to link to
    return f"[`{shown}`][{target}]"


def rewrite_roles(text: str) -> str:
    """``text`` with every Sphinx role replaced by a Markdown cross-reference (or code)."""
    return MATH.sub(r"`\1`", ROLE.sub(_link, text))


def split_argument_groups(text: str) -> str:
    """One ``Args:`` entry per argument where several share one description."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        header = ARGS_HEADER.match(lines[i])
        out.append(lines[i])
        i += 1
        if not header:
            continue
        section_indent = len(header.group(1))
        item_indent: int | None = None
        while i < len(lines):
            line = lines[i]
            indent = len(line) - len(line.lstrip())
            if line.strip() and indent <= section_indent:
                break  # the section ended
            if not line.strip() or (item_indent is not None and indent > item_indent):
                out.append(line)
                i += 1
                continue
            item_indent = indent
            # an item: its names may run over several lines ending in ","
            head, j = line.strip(), i + 1
            while ":" not in head and NAMES.match(head) and j < len(lines):
                head = f"{head} {lines[j].strip()}"
                j += 1
            names, sep, description = head.partition(":")
            if not sep or not NAMES.match(names.strip()) or "," not in names:
                out.append(line)
                i += 1
                continue
            more: list[str] = []
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > item_indent
            ):
                more.append(lines[j])
                j += 1
            while more and not more[-1].strip():
                j -= 1
                more.pop()
            for name in (n.strip() for n in names.split(",")):
                if name:
                    out.append(f"{' ' * item_indent}{name}:{description}")
                    out.extend(more)
            i = j
    return "\n".join(out)


def comment_docstring(lines: list[str], lineno: int) -> str | None:
    """The ``#:`` comment lines just above line ``lineno`` (1-based), joined, or None."""
    doc: list[str] = []
    i = lineno - 2
    while i >= 0 and lines[i].lstrip().startswith("#:"):
        doc.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return "\n".join(doc) or None


def adapt(text: str) -> str:
    """The docstring rewrites (roles, examples, argument groups)."""
    text = EXAMPLE_HEADER.sub(r"\1Examples:", text)
    return split_argument_groups(rewrite_roles(text))


class IdgradDocstrings(griffe.Extension):
    """Adapts the docstring of every object griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = adapt(obj.docstring.value)

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.lineno is None or not attr.parent:
            return
        if not attr.parent.is_module:
            return
        filepath = attr.filepath
        if not isinstance(filepath, Path) or filepath not in attr.lines_collection:
            return
        text = comment_docstring(attr.lines_collection[filepath], attr.lineno)
        if text:
            attr.docstring = griffe.Docstring(adapt(text), parent=attr)

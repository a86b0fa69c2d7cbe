"""Assemble BENCHMARKS.md from the tables in ``benchmarks/results/``.

Every benchmark writes its own Markdown file (``results/<name>.md``) with the
command, machine and date that produced it; this module only stitches them
together, in a fixed order, under one contents line. Each file's headings are
shifted so that its first heading sits at the level its place in BENCHMARKS.md
needs (the performance tables one level below "Performance"). A missing file
is listed as "not run" rather than skipped silently.

Run: ``python -m benchmarks.assemble [--results DIR] [--out BENCHMARKS.md]``
(``python -m benchmarks.run`` calls it at the end).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import RESULTS

__all__ = ["PARTS", "assemble", "relink_images", "shift_headings"]

ROOT = Path(__file__).resolve().parent.parent

INTRO = """# idgrad benchmarks

Every table below was produced by the command printed with it, on the machine and date it
names (a shared 2-core CPU VM, torch 2.13.0+cpu; no GPU was lent to this project's tasks so
far). Timings are ratios measured side by side in one process (interleaved, repeated, median),
because the machine is shared; accuracy and cost (model evaluations) are exact and
reproducible. Raw results live in `benchmarks/results/`; `python -m benchmarks.assemble`
rebuilds this file from them.
"""

# (file stem in results/, heading level of its first heading, title for the contents line)
PARTS: tuple[tuple[str, int, str], ...] = (
    ("performance", 2, "performance"),
    ("overhead", 3, ""),
    ("peers", 3, ""),
    ("memory", 3, ""),
    ("accuracy", 3, ""),
    ("gpu", 3, ""),
    ("paper", 2, "paper comparison"),
    ("paper_offline", 2, "paper protocol offline"),
    ("text", 2, "text (MiniLM)"),
    ("genomics", 2, "genomics"),
    ("dataset", 2, "dataset-scale"),
)

_HEADING = re.compile(r"^(#+) ", re.MULTILINE)
_LOCAL_IMAGE = re.compile(r"(!\[[^\]]*\]\()(?![a-z]+://|/)([^)]+\))")


def shift_headings(text: str, level: int) -> str:
    """Shift every Markdown heading so the first one has ``level`` hashes.

    Example:
        >>> shift_headings("# A\\n\\n## B\\n", 2)
        '## A\\n\\n### B\\n'
    """
    first = _HEADING.search(text)
    if first is None:
        return text
    shift = level - len(first.group(1))
    return _HEADING.sub(lambda m: "#" * max(1, len(m.group(1)) + shift) + " ", text)


def relink_images(text: str, prefix: str) -> str:
    """Point relative image links at ``prefix`` (the results folder, seen from BENCHMARKS.md).

    Example:
        >>> relink_images("![a](a.png) ![b](https://x/b.png)", "benchmarks/results")
        '![a](benchmarks/results/a.png) ![b](https://x/b.png)'
    """
    return _LOCAL_IMAGE.sub(lambda m: f"{m.group(1)}{prefix}/{m.group(2)}", text)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def assemble(results: Path = RESULTS, out: Path | None = None) -> str:
    """BENCHMARKS.md's text from the files in ``results`` (image links made relative to ``out``)."""
    prefix = os.path.relpath(results, (out or ROOT / "BENCHMARKS.md").parent)
    body: list[str] = []
    contents: list[str] = []
    for stem, level, title in PARTS:
        path = results / f"{stem}.md"
        if not path.is_file():
            body.append(f"{'#' * level} {stem}\n\nNot run yet (`results/{stem}.md` is missing).\n")
            continue
        text = relink_images(shift_headings(path.read_text().strip() + "\n", level), prefix)
        if title:
            first = _HEADING.search(text)
            line = text[first.end() :].splitlines()[0] if first else stem
            contents.append(f"[{title}](#{_anchor(line)})")
        body.append(text)
    return INTRO + "\nContents: " + " · ".join(contents) + "\n\n" + "\n".join(body)


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.out.write_text(assemble(args.results, args.out))
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()

"""Build BENCHMARKS.md, the summary, from the tables in ``benchmarks/results/``.

Every benchmark writes its own Markdown file (``results/<name>.md``) with the command, machine
and date that produced it; the details stay there. BENCHMARKS.md is the summary: for each area,
what is measured, the headline section quoted from its results file (the verdicts, the
"in short"), the command that regenerates it, and links to the full tables. A missing file or
section is shown as "not run" rather than skipped silently.

Run: ``python -m benchmarks.assemble [--results DIR] [--out BENCHMARKS.md]``
(``python -m benchmarks.run`` calls it at the end of a full run).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from benchmarks._common import RESULTS

__all__ = ["PARTS", "Part", "assemble", "relink", "section", "shift_headings"]

ROOT = Path(__file__).resolve().parent.parent

INTRO = """# idgrad benchmarks

A summary: what each benchmark measures, its headline result, and where the full tables are.
Every table in `benchmarks/results/` names the command, machine and date that produced it (a
shared 2-core CPU VM, torch 2.13.0+cpu; no GPU was lent to this project's tasks so far).
Timings are ratios measured side by side in one process (interleaved, repeated, median),
because the machine is shared; accuracy and cost (model evaluations) are exact and
reproducible. `python -m benchmarks.run --list` lists every benchmark script (the slow ones
marked); `make bench` reruns the performance set and rebuilds this file
(`python -m benchmarks.assemble` rebuilds it alone).
"""


class Part(NamedTuple):
    """One area of BENCHMARKS.md.

    Attributes:
        title: Its heading.
        what: What is measured (Markdown).
        command: The command that regenerates its tables.
        headline: ``(results stem, heading)``: the section quoted as the headline.
        details: Results stems linked as the full tables.
    """

    title: str
    what: str
    command: str
    headline: tuple[str, str]
    details: tuple[str, ...]


PARTS: tuple[Part, ...] = (
    Part(
        "Performance",
        "Time against the floor (a bare loop of the same forward+backward passes), against "
        "captum 0.9 and the seed package at equal work, peak memory, accuracy per model "
        "evaluation, cost at large n_steps, Gauss-Legendre nodes, the JAX adapter against its "
        "floor, GPU throughput: issues 3, 20 and 21's targets.",
        "python -m benchmarks.run",
        ("performance", "Verdicts"),
        (
            "performance",
            "overhead",
            "peers",
            "memory",
            "accuracy",
            "large_n",
            "gauss_legendre",
            "jax_adapter",
            "gpu",
        ),
    ),
    Part(
        "The IDG paper's comparison",
        "The paper's insertion/deletion protocol with every method (IG, IDG on the paper's "
        "and on the graded schedule, Left-IG, Guided IG, AGI) at equal cost, on the models and "
        "photos that ship offline (EfficientNet-Lite0 on 10 photos, a digits CNN on 200 "
        "digits); ImageNet itself cannot be downloaded here (`benchmarks/paper_imagenet.py` "
        "runs it where it can).",
        "python -m benchmarks.paper_offline",
        ("paper", "Verdict"),
        ("paper", "paper_offline"),
    ),
    Part(
        "Text (MiniLM)",
        "Convergence of layer IG and layer IDG on a real transformer's word embeddings: "
        "the absolute delta and the error against a converged reference, per number of steps.",
        "HF_HUB_OFFLINE=1 python -m benchmarks.text_convergence",
        ("text", "What it shows"),
        ("text",),
    ),
    Part(
        "Genomics",
        "A BPNet-style model end to end (IG, IDG, DeepLIFT/SHAP and ISM through TF-MoDISco), "
        "ISM's memory, K targets in one call against K calls, and the earlier planted-motif "
        "CNN.",
        "python -m benchmarks.genomics_bpnet; python -m benchmarks.targets",
        ("genomics", "In short"),
        ("genomics", "targets"),
    ),
    Part(
        "Dataset-scale attribution",
        "Examples per second of `attribute_dataset` (1 vs 2 processes) and the cost of "
        "streaming the results to disk.",
        "python -m benchmarks.dataset_throughput",
        ("dataset", "Writer overhead"),
        ("dataset",),
    ),
)

_HEADING = re.compile(r"^(#+) (.*)$", re.MULTILINE)
_LOCAL_LINK = re.compile(r"(\]\()(?![a-z]+://|/|#)([^)]+\))")


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
    return _HEADING.sub(lambda m: "#" * max(1, len(m.group(1)) + shift) + " " + m.group(2), text)


def relink(text: str, prefix: str) -> str:
    """Point relative links and images at ``prefix`` (the results folder, seen from the output).

    Example:
        >>> relink("![a](a.png) [b](b.md) [c](https://x/c) [d](#d)", "benchmarks/results")
        '![a](benchmarks/results/a.png) [b](benchmarks/results/b.md) [c](https://x/c) [d](#d)'
    """
    return _LOCAL_LINK.sub(lambda m: f"{m.group(1)}{prefix}/{m.group(2)}", text)


def section(text: str, heading: str) -> str | None:
    """The body under the first heading that starts with ``heading``, up to the next heading
    of the same or a higher level (its subsections included); ``None`` if there is none.

    Example:
        >>> section("# T\\n## A\\na\\n### A1\\nb\\n## B\\nc\\n", "A")
        'a\\n### A1\\nb'
    """
    for match in _HEADING.finditer(text):
        if match.group(2).strip().startswith(heading):
            level = len(match.group(1))
            rest = text[match.end() :]
            for later in _HEADING.finditer(rest):
                if len(later.group(1)) <= level:
                    rest = rest[: later.start()]
                    break
            return rest.strip()
    return None


def assemble(results: Path = RESULTS, out: Path | None = None) -> str:
    """BENCHMARKS.md's text from the files in ``results`` (links made relative to ``out``)."""
    prefix = os.path.relpath(results, (out or ROOT / "BENCHMARKS.md").parent)
    rows = ["| area | what is measured | details |", "|---|---|---|"]
    body: list[str] = []
    for part in PARTS:
        links = ", ".join(
            f"[{stem}]({prefix}/{stem}.md)"
            for stem in part.details
            if (results / f"{stem}.md").is_file()
        )
        rows.append(
            f"| [{part.title}](#{_anchor(part.title)}) | {part.what} | {links or 'not run'} |"
        )
        stem, heading = part.headline
        path = results / f"{stem}.md"
        quoted = section(path.read_text(), heading) if path.is_file() else None
        if quoted is None:
            quoted = f'Not run yet (`results/{stem}.md` has no section "{heading}").'
        else:
            quoted = relink(shift_headings(quoted, 3), prefix)
        body.append(
            f"## {part.title}\n\n{part.what}\n\nCommand: `{part.command}`. "
            f"Full tables: {links or 'not run yet'}.\n\n{quoted}\n"
        )
    return INTRO + "\n" + "\n".join(rows) + "\n\n" + "\n".join(body)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


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

"""The summary table of ``idgrad demo``: the fixed-width text it prints, and its rows.

One line per photo and method: the class and its probability, the logit change to explain,
the method's model evaluations and seconds, its convergence delta, its estimated error and its
insertion and deletion AUCs; then the means over the photos and what each column means. The
HTML report (:mod:`idgrad.demo.html_page`) shows the same rows.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from idgrad.demo.experiment import Experiment, PhotoResult

if TYPE_CHECKING:
    from idgrad.demo.report import DemoResult

__all__ = ["format_summary", "method_means", "summary_rows"]

_COLUMNS = (
    ("photo", 11, "<"),
    ("class", 18, "<"),
    ("prob", 5, ">"),
    ("F(x)-F(x')", 10, ">"),
    ("method", 6, "<"),
    ("evals", 5, ">"),
    ("seconds", 7, ">"),
    ("delta", 9, ">"),
    ("delta %", 7, ">"),
    ("est. err", 8, ">"),
    ("insertion", 9, ">"),
    ("deletion", 8, ">"),
)

#: What the columns mean, printed under the table and shown in the report.
_LEGEND = (
    "prob: softmax probability of the class; evals: model evaluations of the method (an image "
    "through the network, with or without a backward pass); seconds: wall time of the "
    "attribution call alone (not the curves) on this machine; delta: quadrature error on "
    "F(x) - F(x') (IDG's before its rescaling), also as % of F(x) - F(x'); est. err: the "
    "graded schedule's estimate of the relative L2 error of the attributions (- for a rule "
    "without one); insertion: AUC of "
    "the insertion curve (higher is better); deletion: AUC of the deletion curve (lower is "
    "better)."
)


def summary_rows(photos: Sequence[PhotoResult]) -> list[list[str]]:
    """One row of cells per photo and method (IG, then IDG)."""
    rows = []
    for photo in photos:
        change = photo.logit - photo.baseline_logit
        for k, method in enumerate((photo.ig, photo.idg)):
            rows.append(
                [
                    photo.name if k == 0 else "",
                    photo.class_name[:18] if k == 0 else "",
                    f"{photo.probability:.2f}" if k == 0 else "",
                    f"{change:.3f}" if k == 0 else "",
                    method.method,
                    str(method.evaluations),
                    f"{method.seconds:.1f}",
                    f"{method.delta:+.2e}",
                    f"{100 * method.delta / change:+.1f}" if change else "n/a",
                    "-" if method.estimated_error is None else f"{method.estimated_error:.1%}",
                    f"{method.insertion_auc:.3f}",
                    f"{method.deletion_auc:.3f}",
                ]
            )
    return rows


def method_means(photos: Sequence[PhotoResult]) -> dict[str, tuple[float, float, float]]:
    """Method -> mean (insertion AUC, deletion AUC, |delta| %) over the photos."""
    means = {}
    for picked in ([p.ig for p in photos], [p.idg for p in photos]):
        if not picked:
            continue
        label = picked[0].method
        rel = [
            abs(m.delta) / abs(p.logit - p.baseline_logit) * 100
            for m, p in zip(picked, photos)
            if p.logit != p.baseline_logit
        ]
        n = max(len(picked), 1)
        means[label] = (
            sum(m.insertion_auc for m in picked) / n,
            sum(m.deletion_auc for m in picked) / n,
            sum(rel) / max(len(rel), 1),
        )
    return means


def format_summary(result: DemoResult | Experiment) -> str:
    """The fixed-width summary table that ``idgrad demo`` prints, with its legend.

    One line per photo and method: the predicted class and its probability, the logit change
    ``F(x) − F(x')`` to explain, the model evaluations and seconds of the method, its honest
    convergence delta (absolute and as a percentage of the change), and its insertion (higher
    is better) and deletion (lower is better) AUCs; then the means over the photos and what
    each column means.
    """
    head = " ".join(f"{name:{align}{width}}" for name, width, align in _COLUMNS)
    lines = [head, "-" * len(head)]
    for row in summary_rows(result.photos):
        lines.append(
            " ".join(f"{cell:{align}{width}}" for cell, (_, width, align) in zip(row, _COLUMNS))
        )
    lines.append("-" * len(head))
    for label, (ins, dele, rel) in method_means(result.photos).items():
        lines.append(
            f"mean over {len(result.photos)} photo(s), {label:<4}: insertion {ins:.3f} "
            f"(higher is better), deletion {dele:.3f} (lower is better), "
            f"|delta| {rel:.1f}% of F(x)-F(x')"
        )
    lines.append("")
    lines.extend(textwrap.wrap(_LEGEND, width=len(head)))
    return "\n".join(lines)

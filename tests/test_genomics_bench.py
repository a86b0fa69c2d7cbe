"""The genomics benchmark (benchmarks/genomics_bpnet.py) runs end to end on a tiny case."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def test_genomics_bpnet_smoke(tmp_path: Path) -> None:
    pytest.importorskip("modiscolite")
    import torch

    from benchmarks.genomics_bpnet import main

    methods = ["IG", "IDG graded", "IDG pilot", "IDG uniform", "ISM"]
    if importlib.util.find_spec("tangermeme") is not None:  # the bench extra's peer
        methods.insert(4, "DeepLIFT/SHAP")
    threads = torch.get_num_threads()
    try:
        text = main(
            ["--smoke", "--threads", "1", "--methods", ",".join(methods), "--out", str(tmp_path)]
        )
    finally:
        torch.set_num_threads(threads)
    assert (tmp_path / "genomics_bpnet.md").read_text() == text
    saved = json.loads((tmp_path / "genomics_bpnet.json").read_text())
    assert list(saved["results"]) == methods
    for name in methods[:4]:  # equal cost: B = 8 evaluations per pair, 2 references
        assert saved["results"][name]["evals_per_sequence"] <= 16
    assert saved["results"]["ISM"]["evals_per_sequence"] == 1 + 3 * 100
    assert saved["results"]["ISM"]["ism_spearman"] == pytest.approx(1.0)
    for heading in ("(a) TF-MoDISco motifs", "(b) Seqlets", "(c) Agreement with ISM"):
        assert heading in text

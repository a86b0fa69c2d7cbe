"""A small BPNet (dilated residual convolutions, a profile and a count head) and its loss.

Trained on :func:`~idgrad.genomics.synthetic_profiles.planted_profiles` by
``benchmarks/genomics_bpnet.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from idgrad.genomics._training import train_epochs

__all__ = ["BPNet", "train_bpnet"]


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.relu = nn.ReLU()  # one module per layer (DeepLIFT rules attach to modules)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.relu(self.conv(h))


class BPNet(nn.Module):
    """A small BPNet: dilated residual convolutions, a profile head and a count head.

    ``(n, 4, L)`` one-hot → ``(profile logits (n, L), log counts (n,))``: a first convolution
    (``channels`` filters of width 21) and ReLU, ``layers`` residual blocks
    ``h + ReLU(conv_d(h))`` with dilations ``2, 4, …, 2^layers``, then the profile head (a
    width-25 convolution to one track) and the count head (mean over positions, then a linear
    map). About 93k parameters with the defaults. Trained by :func:`train_bpnet`.

    Example:
        >>> profile, counts = BPNet(seed=0)(torch.zeros(2, 4, 120))
        >>> profile.shape, counts.shape
        (torch.Size([2, 120]), torch.Size([2]))
    """

    def __init__(self, channels: int = 64, layers: int = 7, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = nn.Conv1d(4, channels, 21, padding=10)
            self.stem_relu = nn.ReLU()
            self.body = nn.Sequential(*(_Residual(channels, 2 ** (i + 1)) for i in range(layers)))
            self.profile_head = nn.Conv1d(channels, 1, 25, padding=12)
            self.count_head = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(self.stem_relu(self.stem(x)))
        return self.profile_head(h)[:, 0], self.count_head(h.mean(dim=2))[:, 0]


def train_bpnet(
    model: nn.Module,
    sequences: torch.Tensor,
    profiles: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 2e-3,
    count_weight: float = 10.0,
    seed: int = 0,
) -> list[float]:
    """Fit a profile model with BPNet's loss; return the loss of each epoch.

    Loss per sequence: the multinomial negative log-likelihood of the reads under
    ``softmax(profile logits)`` plus ``count_weight`` times the squared error of the log
    counts against ``log(1 + total reads)``. Adam; batches drawn from ``seed`` (torch's global
    RNG is not touched); the model is left in eval mode.

    Example:
        >>> from idgrad.genomics.synthetic_profiles import planted_profiles
        >>> data = planted_profiles(16, 120, seed=0)
        >>> len(train_bpnet(BPNet(channels=8, layers=2), data.sequences, data.profiles,
        ...                 epochs=1))
        1
    """
    if sequences.shape[0] != profiles.shape[0]:
        raise ValueError(f"{sequences.shape[0]} sequences but {profiles.shape[0]} profiles")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log_total = torch.log1p(profiles.sum(dim=1))

    def chunk_loss(chunk: torch.Tensor) -> torch.Tensor:
        logits, counts = model(sequences[chunk])
        nll = -(profiles[chunk] * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        return nll + count_weight * ((counts - log_total[chunk]) ** 2).mean()

    return train_epochs(
        model, opt, sequences.shape[0], chunk_loss, epochs=epochs, batch_size=batch_size, seed=seed
    )

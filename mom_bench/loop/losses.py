"""Training losses and the learning-rate schedule."""
from __future__ import annotations

import math

import torch

from mom_bench.core.recipes import Recipe


def alignment_loss(a: torch.Tensor, p: torch.Tensor, kind: str, *, margin: float = 0.2,
                   negatives: str = "in-batch", distance: str = "l2") -> torch.Tensor:
    """Auxiliary loss over the real songs of a batch: ``a`` = MERT-branch embeddings ``[N, D]``, ``p`` =
    wav2vec2-branch embeddings of the same songs.

    ``triplet``: for anchor i, positive p_i and negatives p_j (j != i), ``max(0, d(a_i, p_i) - d(a_i, p_j) +
    margin)`` averaged over all N(N-1) pairs (``in-batch``) or over the N hardest (closest) negatives
    (``hard``); 0 when N <= 1. ``mse`` / ``huber``: distance between a_i and p_i, averaged.
    """
    n = a.shape[0]
    if n == 0:
        return a.new_zeros(())
    if kind == "mse":
        return torch.nn.functional.mse_loss(a, p)
    if kind == "huber":
        return torch.nn.functional.huber_loss(a, p)
    if n <= 1:
        return a.new_zeros(())
    sq = (a[:, None, :] - p[None, :, :]).pow(2).sum(-1)  # [N, N]: d(a_i, p_j)^2
    # The epsilon keeps the gradient of the square root finite when two embeddings coincide.
    dist = sq if distance == "sql2" else torch.sqrt(sq + 1e-12)
    pos = dist.diagonal()[:, None]
    off = ~torch.eye(n, dtype=torch.bool, device=a.device)
    if negatives == "hard":
        neg = dist.masked_fill(~off, float("inf")).min(dim=1, keepdim=True).values
        return torch.relu(pos - neg + margin).mean()
    return torch.relu(pos - dist + margin)[off].mean()


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    targets = targets.float()
    if smoothing:
        targets = targets * (1 - smoothing) + 0.5 * smoothing
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)


def lr_at(recipe: Recipe, epoch_progress: float) -> float:
    """Learning rate at a fractional epoch: linear warm-up from ``warmup_start_lr``, then constant or cosine.

    >>> lr_at(Recipe(lr=1e-3, warmup_epochs=2, warmup_start_lr=0.0), 1.0)
    0.0005
    >>> lr_at(Recipe(lr=1e-3, schedule="cosine", epochs=10), 10.0)
    0.0
    """
    if recipe.warmup_epochs and epoch_progress < recipe.warmup_epochs:
        return recipe.warmup_start_lr + (recipe.lr - recipe.warmup_start_lr) * epoch_progress / recipe.warmup_epochs
    if recipe.schedule == "constant":
        return recipe.lr
    span = max(1e-9, recipe.epochs - recipe.warmup_epochs)
    t = min(1.0, (epoch_progress - recipe.warmup_epochs) / span)
    return recipe.min_lr + (recipe.lr - recipe.min_lr) * 0.5 * (1 + math.cos(math.pi * t))

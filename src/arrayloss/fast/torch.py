"""PyTorch fast paths: fewer full-size temporaries than the generic kernel.

On the CPU a fresh full-size tensor costs more than the arithmetic on it (its pages are
faulted in on first touch), so these paths allocate one buffer per call and work in
place on it. They serve both the forward of the autograd wiring (``wrt=()``) and its
backward, and return ``NotImplemented`` while autograd records a graph through their
inputs (double backward differentiates the generic table instead) and for any case
they do not cover.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register

__all__: list[str] = []


def _plain_pair(problem: Any, wrt: tuple[str, ...]) -> tuple[Any, Any] | None:
    """``pred, target`` when the fast path covers the call, else None."""
    if problem.weight is not None or problem.where is not None:
        return None
    if problem.reduction not in ("sum", "mean") or any(n not in ("pred", "target") for n in wrt):
        return None
    pred, target = problem.arrays[0], problem.arrays[1]
    if not (isinstance(pred, torch.Tensor) and isinstance(target, torch.Tensor)):
        return None
    if torch.is_grad_enabled() and (pred.requires_grad or target.requires_grad):
        return None
    if pred.shape != target.shape or pred.dtype != target.dtype or pred.numel() == 0:
        return None
    if pred.dtype not in (torch.float32, torch.float64):
        return None
    return pred, target


def _scale(cotangent: Any, factor: float) -> Any:
    if cotangent is None:
        return factor
    if isinstance(cotangent, torch.Tensor) and cotangent.ndim == 0:
        return cotangent * factor
    if isinstance(cotangent, (int, float)):
        return cotangent * factor
    return None


@register("mse", "torch")
def mse(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """``d = pred - target`` once; the value is ``dot(d, d)``, the gradient ``d *= 2 s``.

    One full-size buffer per call (``d``, which becomes the gradient), where the generic
    kernel allocates ``d``, ``d * d`` and the broadcast cotangent.
    """
    pair = _plain_pair(problem, wrt)
    if pair is None:
        return NotImplemented
    pred, target = pair
    n = pred.numel()
    mean = problem.reduction == "mean"
    scale = _scale(cotangent, 2.0 / n if mean else 2.0)
    if scale is None:
        return NotImplemented
    d = torch.sub(pred, target)
    flat = d.reshape(-1)
    value = torch.dot(flat, flat)
    if mean:
        value = value / n
    if not wrt:
        return value, ()
    g = d.mul_(scale)
    return value, tuple(g if name == "pred" else torch.neg(g) for name in wrt)

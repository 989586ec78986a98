"""Ranking kernels: element-wise margin losses of scores, and their VJPs.

Both losses are element-wise (PyTorch's rule): the arguments broadcast together and the
unreduced loss has their broadcast shape. ``clamp_min(x, 0)`` passes the gradient at
``x = 0``, as PyTorch's ``clamp_min`` backward does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["GRADS", "VALUES"]


# -------------------------------------------------------------- margin_ranking


def margin_ranking(xp: ModuleType, x1: Any, x2: Any, target: Any, *, margin: float) -> Any:
    """``max(-target (x1 - x2) + margin, 0)``, PyTorch's operation order."""
    u = -target * (x1 - x2) + margin
    return xp.maximum(u, xp.zeros_like(u))


def margin_ranking_x1_grad(
    xp: ModuleType, cot: Any, x1: Any, x2: Any, target: Any, *, margin: float
) -> Any:
    u = -target * (x1 - x2) + margin
    return xp.where(u >= 0, -target * cot, xp.zeros_like(u))


def margin_ranking_x2_grad(
    xp: ModuleType, cot: Any, x1: Any, x2: Any, target: Any, *, margin: float
) -> Any:
    return -margin_ranking_x1_grad(xp, cot, x1, x2, target, margin=margin)


# ------------------------------------------------------------- hinge_embedding


def hinge_embedding(xp: ModuleType, input: Any, target: Any, *, margin: float) -> Any:
    """PyTorch's ``hinge_embedding_loss``, target values read as PyTorch reads them.

    ``max(margin - x, 0)`` where ``target != 1``, plus ``x`` where ``target != -1``: so
    ``target = 1`` gives ``x``, ``target = -1`` gives the hinge, and any other value
    gives the sum of both.
    """
    hinge = margin - input
    hinge = xp.maximum(hinge, xp.zeros_like(hinge))
    zero = xp.zeros_like(hinge)
    loss = xp.where(target != 1, hinge, zero) + xp.where(target != -1, input, zero)
    # a NaN target reads as "neither 1 nor -1" in PyTorch (a finite loss): NaN in, NaN out
    return xp.where(xp.isnan(target), xp.full_like(loss, math.nan), loss)


def hinge_embedding_grad(
    xp: ModuleType, cot: Any, input: Any, target: Any, *, margin: float
) -> Any:
    zero = xp.zeros_like(cot * input)
    in_hinge = (target != 1) & (margin - input >= 0)
    g = xp.where(in_hinge, -cot, zero) + xp.where(target != -1, cot, zero)
    return xp.where(xp.isnan(target), xp.full_like(g, math.nan), g)


VALUES: dict[str, Callable[..., Any]] = {
    "margin_ranking": margin_ranking,
    "hinge_embedding": hinge_embedding,
}

#: The gradient table of every ranking loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "margin_ranking": {"x1": margin_ranking_x1_grad, "x2": margin_ranking_x2_grad},
    "hinge_embedding": {"input": hinge_embedding_grad},
}

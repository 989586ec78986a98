"""Segmentation kernels: the overlap scores of MONAI's Dice, Jaccard, Tversky and
generalized Dice losses, and their gradient tables.

Each score is a function of the per-sample, per-class overlap sums ``I = sum m p t``,
``P = sum m p``, ``T = sum m t`` (see :mod:`arrayloss.kernels.overlap` for the notation
and for the shared pullback to ``pred`` and ``target``), given with its VJP in
``(I, P, T)``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._math import safe_max
from .overlap import overlap_loss

__all__ = ["GRADS", "VALUES", "VJPS"]


def dice_score(
    xp: ModuleType, inter: Any, psum: Any, tsum: Any, *, smooth_nr: float, smooth_dr: float
) -> Any:
    return 1 - (2 * inter + smooth_nr) / (psum + tsum + smooth_dr)


def dice_score_vjp(
    xp: ModuleType,
    cot: Any,
    inter: Any,
    psum: Any,
    tsum: Any,
    *,
    smooth_nr: float,
    smooth_dr: float,
) -> tuple[Any, Any, Any]:
    den = psum + tsum + smooth_dr
    q = cot / den
    r = q * (2 * inter + smooth_nr) / den
    return -2 * q, r, r


def jaccard_score(
    xp: ModuleType, inter: Any, psum: Any, tsum: Any, *, smooth_nr: float, smooth_dr: float
) -> Any:
    # MONAI's DiceLoss(jaccard=True): both terms doubled, so (2I + s_nr) / (2U + s_dr)
    return 1 - (2 * inter + smooth_nr) / (2 * (psum + tsum - inter) + smooth_dr)


def jaccard_score_vjp(
    xp: ModuleType,
    cot: Any,
    inter: Any,
    psum: Any,
    tsum: Any,
    *,
    smooth_nr: float,
    smooth_dr: float,
) -> tuple[Any, Any, Any]:
    den = 2 * (psum + tsum - inter) + smooth_dr
    q = cot / den
    r = 2 * q * (2 * inter + smooth_nr) / den
    return -2 * q - r, r, r


def _tversky_index(
    inter: Any, psum: Any, tsum: Any, alpha: float, beta: float, smooth_nr: float, smooth_dr: float
) -> tuple[Any, Any]:
    num = inter + smooth_nr
    den = inter + alpha * (psum - inter) + beta * (tsum - inter) + smooth_dr
    return num, den


def tversky_score(
    xp: ModuleType,
    inter: Any,
    psum: Any,
    tsum: Any,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    smooth_nr: float,
    smooth_dr: float,
) -> Any:
    num, den = _tversky_index(inter, psum, tsum, alpha, beta, smooth_nr, smooth_dr)
    base = 1 - num / den
    return base if gamma == 1 else base**gamma


def tversky_score_vjp(
    xp: ModuleType,
    cot: Any,
    inter: Any,
    psum: Any,
    tsum: Any,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    smooth_nr: float,
    smooth_dr: float,
) -> tuple[Any, Any, Any]:
    num, den = _tversky_index(inter, psum, tsum, alpha, beta, smooth_nr, smooth_dr)
    scale = cot
    if gamma != 1:
        # d(base**gamma) = gamma base**(gamma-1); at base = 0 (a perfect score) take 0,
        # the limit for gamma > 1 and the minimum's subgradient for gamma < 1.
        base = 1 - num / den
        nonzero = base != 0
        safe = xp.where(nonzero, base, xp.ones_like(base))
        scale = cot * xp.where(nonzero, gamma * safe ** (gamma - 1), xp.zeros_like(base))
    q = scale / den
    r = q * num / den
    return -(q - (1 - alpha - beta) * r), alpha * r, beta * r


def _volume_weights(xp: ModuleType, tsum: Any, class_weight: Any) -> Any:
    """MONAI's ``w_type="square"``: ``1 / T**2``, absent classes take the sample's max."""
    square = tsum * tsum
    # MONAI tests isinf(1 / square); 1 / square is finite when square > 1 / max (and a
    # strict test stays right where XLA flushes that subnormal threshold to 0)
    present = square > 1 / float(xp.finfo(tsum.dtype).max)
    inverse = 1 / xp.where(present, square, xp.ones_like(square))
    inverse = xp.where(present, inverse, xp.zeros_like(inverse))
    fill = safe_max(xp, inverse, axis=1)
    weights = xp.where(present, inverse, fill)
    return weights if class_weight is None else weights * class_weight


def generalized_dice_score(
    xp: ModuleType,
    inter: Any,
    psum: Any,
    tsum: Any,
    *,
    smooth_nr: float,
    smooth_dr: float,
    class_weight: Any = None,
) -> Any:
    w = _volume_weights(xp, tsum, class_weight)
    num = 2 * xp.sum(w * inter, axis=1) + smooth_nr
    den = xp.sum(w * (psum + tsum), axis=1) + smooth_dr
    return 1 - num / den


def generalized_dice_score_vjp(
    xp: ModuleType,
    cot: Any,
    inter: Any,
    psum: Any,
    tsum: Any,
    *,
    smooth_nr: float,
    smooth_dr: float,
    class_weight: Any = None,
) -> tuple[Any, Any, Any]:
    # The volume weights depend on the target only: constants for the pred gradient.
    w = _volume_weights(xp, tsum, class_weight)
    num = 2 * xp.sum(w * inter, axis=1, keepdims=True) + smooth_nr
    den = xp.sum(w * (psum + tsum), axis=1, keepdims=True) + smooth_dr
    q = xp.expand_dims(cot, axis=1) / den
    return -2 * q * w, q * num / den * w, None


_dice = overlap_loss(dice_score, dice_score_vjp, target_grad=True)
_jaccard = overlap_loss(jaccard_score, jaccard_score_vjp, target_grad=True)
_tversky = overlap_loss(tversky_score, tversky_score_vjp, target_grad=True)
# The volume weights are piecewise in the target (absent classes take a max): no target
# gradient.
_generalized = overlap_loss(generalized_dice_score, generalized_dice_score_vjp, target_grad=False)

VALUES = {
    "dice": _dice[0],
    "jaccard": _jaccard[0],
    "tversky": _tversky[0],
    "generalized_dice": _generalized[0],
}

#: Fused value-and-gradient kernels (the overlap sums serve value and gradient).
VJPS = {
    "dice": _dice[1],
    "jaccard": _jaccard[1],
    "tversky": _tversky[1],
    "generalized_dice": _generalized[1],
}

#: The gradient table of every segmentation loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "dice": _dice[2],
    "jaccard": _jaccard[2],
    "tversky": _tversky[2],
    "generalized_dice": _generalized[2],
}

"""The one reduction contract: ``none | sum | mean | batchmean`` with ``weight`` and ``where``.

For an unreduced loss ``l`` with weights ``w`` (default 1) and mask ``m`` (default all
kept), every loss reduces as

* ``"none"``: ``where(m, w * l, 0)``, the full shape;
* ``"sum"``: ``sum(where(m, w * l, 0))``;
* ``"mean"``: that sum divided by the denominator ``D``;
* ``"batchmean"``: that sum divided by the batch size ``l.shape[0]`` (``kl_div``).

The denominator is chosen per loss to reproduce the reference library:

* ``"weight"``: ``D = sum(where(m, w, 0))`` (PyTorch's weighted ``mse``/``l1``, the
  class-weighted ``cross_entropy``; with no weight, the count of kept elements);
* ``"count"``: ``D = sum(m)``, the count of kept elements, whatever the weights
  (PyTorch's weighted ``huber`` and ``binary_cross_entropy``);
* ``"batch"``: ``D = l.shape[0]``;
* an array: a denominator the loss computed itself.

Empty or fully masked input: ``"sum"`` gives 0 and ``"mean"`` gives NaN, as PyTorch.

The gradient of the reduced value with respect to ``l`` is the *cotangent*
``where(m, w * s, 0)`` with ``s = 1/D`` (mean), ``1`` (sum) or the caller's cotangent
(none); :func:`loss_cotangent` builds it so that gradient tables fold the reduction's
scale into their single pass.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from ._validate import broadcast_shapes

__all__ = ["Denominator", "loss_cotangent", "prepare_mask", "prepare_weight", "reduce_loss"]

Denominator = Any  # "weight" | "count" | "batch" | a 0-d array


def prepare_weight(xp: ModuleType, weight: Any, shape: tuple[Any, ...], dtype: Any) -> Any:
    """``weight`` cast to ``dtype`` and checked to broadcast to the unreduced loss."""
    if weight is None:
        return None
    if not hasattr(weight, "shape"):
        weight = xp.asarray(weight, dtype=dtype)
    _check_broadcasts("weight", tuple(weight.shape), shape)
    if weight.dtype != dtype:
        weight = xp.astype(weight, dtype)
    return weight


def prepare_mask(xp: ModuleType, where: Any, shape: tuple[Any, ...]) -> Any:
    """``where`` checked to be boolean and to broadcast to the unreduced loss."""
    if where is None:
        return None
    if not hasattr(where, "shape"):
        where = xp.asarray(where)
    if where.dtype != xp.bool:
        raise TypeError(
            f"where must be a boolean array, got dtype {str(where.dtype).split('.')[-1]} "
            "(True keeps an element; convert a 0/1 mask with mask != 0)"
        )
    _check_broadcasts("where", tuple(where.shape), shape)
    return where


def _check_broadcasts(name: str, shape: tuple[Any, ...], loss_shape: tuple[Any, ...]) -> None:
    try:
        merged = broadcast_shapes(("the unreduced loss", loss_shape), (name, shape))
    except ValueError:
        merged = None
    if (
        merged is None
        or len(merged) != len(loss_shape)
        or any(_known(a) and _known(b) and a != b for a, b in zip(merged, loss_shape, strict=True))
    ):
        raise ValueError(
            f"{name} has shape {tuple(shape)} but the unreduced loss has shape "
            f"{tuple(loss_shape)}; {name} must broadcast to the unreduced loss's shape"
        )


def _known(s: Any) -> bool:
    return s is not None and not (isinstance(s, float) and math.isnan(s))


def _kept_terms(xp: ModuleType, loss: Any, weight: Any, where: Any) -> Any:
    terms = loss if weight is None else loss * weight
    if where is not None:
        terms = xp.where(where, terms, xp.zeros_like(terms))
    return terms


def _count(xp: ModuleType, loss: Any, where: Any) -> Any:
    if where is None:
        n = 1
        for s in loss.shape:
            n = n * s
        return xp.asarray(n, dtype=loss.dtype, device=_device(loss))
    mask = xp.broadcast_to(where, loss.shape)
    return xp.sum(xp.astype(mask, loss.dtype))


def _device(x: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def denominator_value(
    xp: ModuleType, loss: Any, *, weight: Any, where: Any, denominator: Denominator
) -> Any:
    """The ``"mean"`` denominator ``D`` as a 0-d array of the loss's dtype."""
    if isinstance(denominator, str):
        if denominator == "batch":
            n = loss.shape[0] if loss.ndim else 1
            return xp.asarray(n, dtype=loss.dtype, device=_device(loss))
        if denominator == "count" or weight is None:
            return _count(xp, loss, where)
        w = xp.broadcast_to(weight, loss.shape)
        if where is not None:
            w = xp.where(where, w, xp.zeros_like(w))
        return xp.sum(w)
    return denominator


def _safe_divide(xp: ModuleType, total: Any, denom: Any) -> Any:
    """``total / denom`` with ``x / 0 = NaN`` and no floating-point warning."""
    zero = denom == 0
    safe = xp.where(zero, xp.ones_like(denom), denom)
    return xp.where(zero, xp.full_like(total, math.nan), total / safe)


def reduce_loss(
    xp: ModuleType,
    loss: Any,
    *,
    reduction: str,
    weight: Any = None,
    where: Any = None,
    denominator: Denominator = "weight",
) -> Any:
    """Reduce an unreduced loss under the contract in this module's docstring."""
    terms = _kept_terms(xp, loss, weight, where)
    if reduction == "none":
        if weight is not None or where is not None:
            return xp.broadcast_to(terms, loss.shape) if terms.shape != loss.shape else terms
        return terms
    total = xp.sum(terms)
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        denominator = "batch"
    denom = denominator_value(xp, loss, weight=weight, where=where, denominator=denominator)
    return _safe_divide(xp, total, denom)


def loss_cotangent(
    xp: ModuleType,
    loss: Any,
    *,
    reduction: str,
    weight: Any = None,
    where: Any = None,
    denominator: Denominator = "weight",
    cotangent: Any = None,
) -> Any:
    """d(reduced value)/d(loss), times ``cotangent``, shaped like the unreduced loss.

    ``cotangent`` is the cotangent of the reduced output: a scalar (or 0-d array) for
    ``sum``/``mean``, an array broadcastable to the loss for ``none``; default 1.
    """
    dtype = loss.dtype
    if cotangent is None:
        scale: Any = (
            xp.ones_like(loss) if loss.ndim == 0 else xp.ones((), dtype=dtype, device=_device(loss))
        )
    elif hasattr(cotangent, "shape"):
        scale = cotangent if cotangent.dtype == dtype else xp.astype(cotangent, dtype)
    else:
        scale = xp.asarray(cotangent, dtype=dtype, device=_device(loss))
    if reduction in ("mean", "batchmean"):
        denom = denominator_value(
            xp,
            loss,
            weight=weight,
            where=where,
            denominator="batch" if reduction == "batchmean" else denominator,
        )
        scale = scale / xp.where(denom == 0, xp.ones_like(denom), denom)
    if weight is not None:
        scale = scale * weight
    scale = xp.broadcast_to(scale, loss.shape)
    if where is not None:
        scale = xp.where(where, scale, xp.zeros_like(scale))
    return scale

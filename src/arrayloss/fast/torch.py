"""PyTorch fast paths: fewer full-size temporaries than the generic kernel.

On the CPU a fresh full-size tensor costs more than the arithmetic on it (its pages are
faulted in on first touch), so these paths allocate one buffer per call and work in
place on it. Each loss has two entry points: the usual fast path (value, and gradients
when asked), which serves the forward of the autograd wiring and ``al.value_and_grad``,
and a gradient-only kernel in :data:`GRADIENTS` for the backward of the wiring, which
already has the value. Both return ``NotImplemented`` while autograd records a graph
through their inputs (double backward differentiates the generic table instead) and for
any case they do not cover; the generic kernel then runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from . import register

__all__ = ["GRADIENTS", "gradients"]

#: loss name -> ``f(problem, wrt, cotangent) -> gradients | NotImplemented``
GRADIENTS: dict[str, Callable[[Any, tuple[str, ...], Any], Any]] = {}


def gradients(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """The gradients alone from the gradient-only kernel of the loss, if it covers the call."""
    kernel = GRADIENTS.get(problem.spec.name)
    if kernel is None:
        return NotImplemented
    return kernel(problem, wrt, cotangent)


def _recording(*tensors: Any) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _float(t: Any) -> bool:
    return (
        isinstance(t, torch.Tensor) and t.dtype in (torch.float32, torch.float64) and t.numel() > 0
    )


def _scalar_scale(cotangent: Any, factor: Any) -> Any:
    """``cotangent * factor`` for a scalar cotangent (None means 1), else None."""
    if cotangent is None:
        return factor
    if isinstance(cotangent, (int, float)) or (
        isinstance(cotangent, torch.Tensor) and cotangent.ndim == 0
    ):
        return cotangent * factor
    return None


# --------------------------------------------------------------------- mse


def _mse_pair(problem: Any, wrt: tuple[str, ...]) -> tuple[Any, Any] | None:
    """``pred, target`` when the MSE paths cover the call, else None."""
    if problem.weight is not None or problem.where is not None:
        return None
    if problem.reduction not in ("sum", "mean") or any(n not in ("pred", "target") for n in wrt):
        return None
    pred, target = problem.arrays[0], problem.arrays[1]
    if not (_float(pred) and _float(target)) or _recording(pred, target):
        return None
    if pred.shape != target.shape or pred.dtype != target.dtype:
        return None
    return pred, target


def _mse_scale(problem: Any, cotangent: Any) -> Any:
    n = problem.arrays[0].numel()
    return _scalar_scale(cotangent, 2.0 / n if problem.reduction == "mean" else 2.0)


def _mse_grads(d: Any, scale: Any, wrt: tuple[str, ...]) -> tuple[Any, ...]:
    g = d.mul_(scale)
    return tuple(g if name == "pred" else torch.neg(g) for name in wrt)


@register("mse", "torch")
def mse(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """``d = pred - target`` once; the value is ``dot(d, d)``, the gradient ``d *= 2 s``.

    One full-size buffer per call (``d``, which becomes the gradient), where the generic
    kernel allocates ``d``, ``d * d`` and the broadcast cotangent.
    """
    pair = _mse_pair(problem, wrt)
    scale = None if pair is None else _mse_scale(problem, cotangent)
    if pair is None or scale is None:
        return NotImplemented
    d = torch.sub(*pair)
    flat = d.reshape(-1)
    value = torch.dot(flat, flat)
    if problem.reduction == "mean":
        value = value / flat.numel()
    return value, (_mse_grads(d, scale, wrt) if wrt else ())


# ATen's Reduction enum, for the fused backward kernel below
_ATEN_REDUCTION = {"mean": 1, "sum": 2}


def _mse_gradients(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """``2 s (pred - target)`` in one fused pass: ATen's own MSE backward kernel, which
    computes exactly this table entry (``torch.ops.aten.mse_loss_backward``)."""
    pair = _mse_pair(problem, wrt)
    if pair is None or _mse_scale(problem, cotangent) is None:
        return NotImplemented
    pred, target = pair
    g = torch.as_tensor(
        1.0 if cotangent is None else cotangent, dtype=pred.dtype, device=pred.device
    )
    grad = torch.ops.aten.mse_loss_backward(g, pred, target, _ATEN_REDUCTION[problem.reduction])
    return tuple(grad if name == "pred" else torch.neg(grad) for name in wrt)


GRADIENTS["mse"] = _mse_gradients


# ----------------------------------------------------------- cross_entropy


def _ce_parts(problem: Any, wrt: tuple[str, ...]) -> tuple[Any, Any, int, Any] | None:
    """``logits, safe labels, axis, used mask`` for plain integer-label cross-entropy."""
    options = problem.options
    if (
        problem.weight is not None
        or problem.where is not None
        or not options.get("sparse")
        or options.get("class_weight") is not None
        or options.get("label_smoothing", 0.0) != 0
        or options.get("temperature", 1.0) != 1
        or problem.reduction not in ("none", "sum", "mean")
        or any(name != "logits" for name in wrt)
    ):
        return None
    logits, target = problem.arrays[0], problem.arrays[1]
    if not _float(logits) or target.dtype != torch.int64 or _recording(logits):
        return None
    if problem.reduction == "mean" and not isinstance(problem.denominator, torch.Tensor):
        return None
    axis = options["axis"]
    # eager validation has already rejected labels outside [0, C) other than ignore_index
    used = target != options.get("ignore_index", -100)
    safe = torch.where(used, target, 0)
    return logits, safe.unsqueeze(axis), axis, used


def _ce_cotangent_covered(problem: Any, cotangent: Any) -> bool:
    return problem.reduction == "none" or _scalar_scale(cotangent, 1) is not None


def _ce_row_scale(problem: Any, used: Any, cotangent: Any, dtype: Any) -> Any:
    """The cotangent of each sample's loss: 0 for ignored ones, ``1/D`` for the mean."""
    if problem.reduction == "none":
        scale = (
            torch.ones((), dtype=dtype)
            if cotangent is None
            else torch.as_tensor(cotangent, dtype=dtype)
        )
    else:
        scale = _scalar_scale(cotangent, 1.0)
        scale = torch.as_tensor(scale, dtype=dtype, device=used.device)
        if problem.reduction == "mean":
            denom = problem.denominator
            scale = scale / torch.where(denom == 0, torch.ones_like(denom), denom)
    return torch.where(used, scale, torch.zeros((), dtype=dtype, device=used.device))


def _ce_grads(logits: Any, safe: Any, axis: int, row: Any) -> Any:
    g = torch.softmax(logits, dim=axis)
    row = row.unsqueeze(axis)
    g.mul_(row)
    return g.scatter_add_(axis, safe, -row.expand_as(safe).to(g.dtype))


@register("cross_entropy", "torch")
def cross_entropy(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """``lse - x_y`` by ``torch.logsumexp``; gradient ``softmax`` scaled and scattered in place.

    Plain integer labels (with ``ignore_index``): no class weight, label smoothing,
    temperature, ``where`` or ``weight``.
    """
    parts = _ce_parts(problem, wrt)
    if parts is None or not _ce_cotangent_covered(problem, cotangent):
        return NotImplemented
    logits, safe, axis, used = parts
    loss = torch.logsumexp(logits, dim=axis) - logits.gather(axis, safe).squeeze(axis)
    loss = torch.where(used, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    if problem.reduction == "none":
        value = loss
    else:
        value = torch.sum(loss)
        if problem.reduction == "mean":
            denom = problem.denominator
            value = torch.where(denom == 0, torch.full_like(value, float("nan")), value / denom)
    if not wrt:
        return value, ()
    row = _ce_row_scale(problem, used, cotangent, logits.dtype)
    return value, (_ce_grads(logits, safe, axis, row),)


def _ce_gradients(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    parts = _ce_parts(problem, wrt)
    if parts is None or not _ce_cotangent_covered(problem, cotangent):
        return NotImplemented
    logits, safe, axis, used = parts
    return (_ce_grads(logits, safe, axis, _ce_row_scale(problem, used, cotangent, logits.dtype)),)


GRADIENTS["cross_entropy"] = _ce_gradients

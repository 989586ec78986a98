"""Evaluate a validated :class:`~arrayloss._spec.Problem`: value, or value and gradients.

The order of preference for every call is: a registered fast path for (loss, backend)
(unless ``ARRAYLOSS_DISABLE_FASTPATHS=1``), else the loss's fused ``vjp`` kernel, else
its value kernel and gradient table. JAX and PyTorch values are wired into their
autodiff systems by :mod:`arrayloss.autodiff` so that ``jax.grad`` and ``.backward()``
use the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from . import fast
from ._reduce import loss_cotangent, reduce_loss
from ._spec import Problem

__all__ = ["check_wrt", "gradients", "plain_value", "value", "value_and_grad"]


def check_wrt(problem: Problem, wrt: Sequence[str]) -> None:
    spec = problem.spec
    for name in wrt:
        if name not in spec.wrt:
            allowed = ", ".join(spec.wrt) or "none"
            raise ValueError(
                f"cannot differentiate {spec.name} with respect to {name!r}; "
                f"its differentiable arguments are: {allowed}"
            )
        if problem.array(name) is None:
            raise ValueError(
                f"cannot differentiate {spec.name} with respect to {name!r}: it was not given "
                "(pass it as an array, or leave it out of wrt)"
            )


def cast_result(xp: ModuleType, x: Any, dtype: Any) -> Any:
    """``x`` in ``dtype``; NumPy scalars come back as 0-d arrays, never ``np.float64``."""
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if dtype is None or x.dtype == dtype:
        return x
    return xp.astype(x, dtype)


def sum_to_shape(xp: ModuleType, g: Any, shape: tuple[Any, ...]) -> Any:
    """Sum ``g`` over the axes along which an argument of ``shape`` was broadcast."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = xp.sum(g, axis=tuple(range(extra)))
    if g.ndim == len(shape):
        axes = tuple(
            i for i, (gs, s) in enumerate(zip(g.shape, shape, strict=True)) if s == 1 and gs != 1
        )
        if axes:
            g = xp.sum(g, axis=axes, keepdims=True)
    if tuple(g.shape) != shape:
        g = xp.broadcast_to(g, shape)
    return g


def _reduce(problem: Problem, loss: Any) -> Any:
    return reduce_loss(
        problem.xp,
        loss,
        reduction=problem.reduction,
        weight=problem.weight,
        where=problem.where,
        denominator=problem.denominator,
    )


def plain_value(problem: Problem) -> Any:
    """The reduced loss, with no autodiff wiring (fast path or kernel)."""
    xp = problem.xp
    path = fast.lookup(problem)
    if path is not None:
        result = path(problem, (), None)
        if result is not NotImplemented:
            return cast_result(xp, result[0], problem.out_dtype)
    spec = problem.spec
    loss = spec.value(xp, *problem.arrays, **problem.options)
    reduced = _reduce(problem, loss)
    if spec.post is not None:
        reduced = spec.post[0](xp, reduced)
    return cast_result(xp, reduced, problem.out_dtype)


def value(problem: Problem) -> Any:
    """The reduced loss, connected to JAX/PyTorch autodiff through the gradient table."""
    backend = problem.backend
    if backend in ("jax", "torch"):
        from . import autodiff

        if backend == "jax":
            return autodiff.jax_value(problem)
        if autodiff.torch_needs_graph(problem):
            return autodiff.torch_value(problem)
    return plain_value(problem)


def value_and_grad(
    problem: Problem, wrt: Sequence[str], cotangent: Any = None
) -> tuple[Any, tuple[Any, ...]]:
    """The reduced loss and its gradients with respect to ``wrt`` (argument names).

    ``cotangent`` is the cotangent of the reduced output (default 1, i.e. the gradient
    of the sum of the output for ``reduction="none"``).
    """
    wrt = tuple(wrt)
    check_wrt(problem, wrt)
    xp = problem.xp
    if cotangent is not None and hasattr(cotangent, "shape"):
        from . import _dispatch

        cotangent = _dispatch.convert(cotangent, xp)
    path = fast.lookup(problem)
    result: Any = NotImplemented
    if path is not None:
        result = path(problem, wrt, cotangent)
    if result is NotImplemented:
        result = _kernel_value_and_grad(problem, wrt, cotangent)
    reduced, grads = result
    return cast_result(xp, reduced, problem.out_dtype), _finish(problem, wrt, grads)


def gradients(problem: Problem, wrt: Sequence[str], cotangent: Any = None) -> tuple[Any, ...]:
    """The gradients of :func:`value_and_grad` without computing the value where possible.

    Used by the backward passes of the JAX and PyTorch wiring, which already have the
    value: the gradient table runs on a zero-cost stand-in for the unreduced loss (only
    its shape and dtype matter to the cotangent). A fast path, a ``post`` function
    (``rmse``), an unknown loss shape or several arguments sharing a fused ``vjp`` kernel
    take the :func:`value_and_grad` route instead.
    """
    wrt = tuple(wrt)
    spec = problem.spec
    shape = problem.loss_shape
    dtype = _compute_dtype(problem)
    if (
        shape is None
        or dtype is None
        or spec.post is not None
        or (spec.vjp is not None and len(wrt) > 1)
        or fast.lookup(problem) is not None
    ):
        return value_and_grad(problem, wrt, cotangent)[1]
    check_wrt(problem, wrt)
    xp = problem.xp
    device = _device(problem)
    stand_in = xp.broadcast_to(xp.zeros((), dtype=dtype, device=device), tuple(shape))
    cot = loss_cotangent(
        xp,
        stand_in,
        reduction=problem.reduction,
        weight=problem.weight,
        where=problem.where,
        denominator=problem.denominator,
        cotangent=cotangent,
    )
    grads = tuple(spec.grads[name](xp, cot, *problem.arrays, **problem.options) for name in wrt)
    if problem.where is not None and spec.elementwise:
        grads = tuple(xp.where(problem.where, g, xp.zeros_like(g)) for g in grads)
    return _finish(problem, wrt, grads)


def _compute_dtype(problem: Problem) -> Any:
    """The dtype the kernel computes in: that of the differentiable arrays."""
    for name, a in zip(problem.spec.args, problem.arrays, strict=True):
        if a is not None and name in problem.spec.wrt:
            return a.dtype
    return None


def _device(problem: Problem) -> Any:
    import array_api_compat

    for a in problem.arrays:
        if a is not None:
            return array_api_compat.device(a)
    return None


def _finish(problem: Problem, wrt: tuple[str, ...], grads: Sequence[Any]) -> tuple[Any, ...]:
    """Gradients summed over broadcast axes, reshaped and cast to their arguments'."""
    xp = problem.xp
    spec = problem.spec
    finished = []
    for name, g in zip(wrt, grads, strict=True):
        index = spec.args.index(name)
        g = sum_to_shape(xp, g, problem.arg_shapes[index])
        user_shape = problem.user_shapes.get(name)
        if user_shape is not None and tuple(g.shape) != tuple(user_shape):
            g = xp.reshape(g, user_shape)
        finished.append(cast_result(xp, g, problem.arg_dtypes[index] or problem.out_dtype))
    return tuple(finished)


def _kernel_value_and_grad(
    problem: Problem, wrt: tuple[str, ...], cotangent: Any
) -> tuple[Any, tuple[Any, ...]]:
    xp = problem.xp
    spec = problem.spec
    arrays = problem.arrays
    options = problem.options
    if spec.vjp is not None:
        loss, pullback = spec.vjp(xp, *arrays, wrt=wrt, **options)
    else:
        loss = spec.value(xp, *arrays, **options)

        def pullback(cot: Any) -> tuple[Any, ...]:
            return tuple(spec.grads[name](xp, cot, *arrays, **options) for name in wrt)

    reduced = _reduce(problem, loss)
    out_cotangent = cotangent
    if spec.post is not None:
        f, df = spec.post
        scale = df(xp, reduced)
        out_cotangent = scale if cotangent is None else cotangent * scale
        reduced = f(xp, reduced)
    cot = loss_cotangent(
        xp,
        loss,
        reduction=problem.reduction,
        weight=problem.weight,
        where=problem.where,
        denominator=problem.denominator,
        cotangent=out_cotangent,
    )
    grads = pullback(cot)
    if problem.where is not None and spec.elementwise:
        grads = tuple(xp.where(problem.where, g, xp.zeros_like(g)) for g in grads)
    return reduced, tuple(grads)

"""Gradients from the tables: ``al.grad``, ``al.value_and_grad``, and the wiring of the
tables into ``jax.grad`` (``jax.custom_vjp``) and PyTorch's ``.backward()``
(``torch.autograd.Function``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from . import _engine
from ._spec import LossSpec, Problem, get_spec

__all__ = ["grad", "jax_value", "torch_needs_graph", "torch_value", "value_and_grad"]

Wrt = str | int | Sequence[str | int] | None


def _resolve_wrt(spec: LossSpec, wrt: Wrt) -> tuple[tuple[str, ...], bool]:
    """Argument names to differentiate, and whether the caller asked for a tuple."""
    if wrt is None:
        return (spec.wrt[0],), False
    as_tuple = isinstance(wrt, (tuple, list))
    items = list(wrt) if as_tuple else [wrt]  # type: ignore[list-item]
    names = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise TypeError(f"wrt entries must be argument names or positions, got {item!r}")
        if isinstance(item, int):
            if not 0 <= item < len(spec.args):
                raise ValueError(
                    f"wrt={item} is out of range; {spec.name} has {len(spec.args)} array "
                    f"arguments: {', '.join(spec.args)}"
                )
            item = spec.args[item]
        if item not in spec.wrt:
            allowed = ", ".join(spec.wrt)
            raise ValueError(
                f"cannot differentiate {spec.name} with respect to {item!r}; "
                f"its differentiable arguments are: {allowed}"
            )
        names.append(item)
    return tuple(names), as_tuple


def value_and_grad(loss: Callable[..., Any], wrt: Wrt = None) -> Callable[..., Any]:
    """Return a function computing ``(loss value, gradient)`` from the loss's table.

    Args:
        loss: a public arrayloss loss (``al.mse``, ``al.cross_entropy`` ...).
        wrt: the argument(s) to differentiate: a name (``"pred"``), a position, or a
            tuple of them. Default: the first argument, and the gradient is one array;
            with a tuple, the gradients come back as a tuple in that order.

    The returned function takes the loss's own arguments plus ``cotangent=`` (the
    cotangent of the output; for ``reduction="none"`` an array shaped like the output).

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> value, g = al.value_and_grad(al.mse)(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
        >>> float(value), g.tolist()
        (2.0, [0.0, 2.0])
    """
    spec = get_spec(loss)
    names, as_tuple = _resolve_wrt(spec, wrt)
    prepare = loss.__arrayloss_prepare__  # type: ignore[attr-defined]

    @functools.wraps(loss)
    def run(*args: Any, cotangent: Any = None, **kwargs: Any) -> tuple[Any, Any]:
        problem = prepare(*args, **kwargs)
        reduced, grads = _engine.value_and_grad(problem, names, cotangent)
        grads = _with_input_chunks(spec, names, grads, args, kwargs)
        return reduced, (grads if as_tuple else grads[0])

    run.__doc__ = f"Value and gradient of {spec.name} with respect to {', '.join(names)}."
    return run


def _with_input_chunks(
    spec: LossSpec,
    names: tuple[str, ...],
    grads: tuple[Any, ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Any, ...]:
    """Dask gradients rechunked (lazily) to the chunks of the argument they belong to.

    Element-wise operations on arguments chunked differently produce the common
    refinement of their chunks; a gradient should be laid out like its input.
    """
    matched = []
    for name, g in zip(names, grads, strict=True):
        index = spec.args.index(name)
        given = args[index] if index < len(args) else kwargs.get(name)
        chunks = getattr(given, "chunks", None)
        if (
            chunks is not None
            and hasattr(g, "rechunk")
            and tuple(g.shape) == tuple(given.shape)
            and g.chunks != chunks
        ):
            g = g.rechunk(chunks)
        matched.append(g)
    return tuple(matched)


def grad(loss: Callable[..., Any], wrt: Wrt = None) -> Callable[..., Any]:
    """Return a function computing the gradient of ``loss`` (see :func:`value_and_grad`).

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> al.grad(al.mse)(np.array([1.0, 3.0]), np.array([1.0, 1.0])).tolist()
        [0.0, 2.0]
    """
    both = value_and_grad(loss, wrt)

    @functools.wraps(loss)
    def run(*args: Any, **kwargs: Any) -> Any:
        return both(*args, **kwargs)[1]

    run.__doc__ = both.__doc__.replace("Value and gradient", "Gradient") if both.__doc__ else None
    return run


# --------------------------------------------------------------------------- JAX


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    static = {k: v for k, v in options.items() if not hasattr(v, "shape")}
    arrays = {k: v for k, v in options.items() if hasattr(v, "shape")}
    return static, arrays


def jax_value(problem: Problem) -> Any:
    """The loss value as a ``jax.custom_vjp`` whose backward is the gradient table.

    Eager calls go through a ``jax.jit`` cached per loss and static options (and, by
    ``jax.jit`` itself, per shapes and dtypes), so the Python overhead is one dispatch.
    """
    spec = problem.spec
    static, array_options = _split_options(problem.options)
    present = tuple(a is not None for a in problem.arrays)
    diff = tuple(
        name for name, a in zip(spec.args, problem.arrays, strict=True) if name in spec.wrt and a is not None
    )
    denominator_static = problem.denominator if isinstance(problem.denominator, str) else None
    key = (
        spec.name,
        _freeze(static),
        tuple(sorted(array_options)),
        problem.reduction,
        denominator_static,
        present,
        diff,
        problem.loss_shape is not None,
    )
    fn = _jax_function(spec, key)
    diff_arrays = tuple(problem.array(name) for name in diff)
    rest = {
        "arrays": tuple(
            None if name in diff else a for name, a in zip(spec.args, problem.arrays, strict=True)
        ),
        "options": array_options,
        "weight": problem.weight,
        "where": problem.where,
        "denominator": None if denominator_static is not None else problem.denominator,
    }
    result = fn(diff_arrays, rest)
    return _engine.cast_result(problem.xp, result, problem.out_dtype)


_JAX_FUNCTIONS: dict[Any, Callable[..., Any]] = {}


def _jax_function(spec: LossSpec, key: Any) -> Callable[..., Any]:
    cached = _JAX_FUNCTIONS.get(key)
    if cached is not None:
        return cached
    import jax
    import jax.numpy as jnp

    _, static_items, _, reduction, denominator_static, _, diff, has_loss_shape = key
    static = dict(static_items)

    def rebuild(diff_arrays: tuple[Any, ...], rest: dict[str, Any]) -> Problem:
        arrays = list(rest["arrays"])
        for name, a in zip(diff, diff_arrays, strict=True):
            arrays[spec.args.index(name)] = a
        return Problem(
            spec=spec,
            xp=jnp,
            arrays=tuple(arrays),
            options={**static, **rest["options"]},
            reduction=reduction,
            weight=rest["weight"],
            where=rest["where"],
            denominator=denominator_static if denominator_static is not None else rest["denominator"],
            out_dtype=None,
            arg_shapes=tuple(tuple(a.shape) if a is not None else () for a in arrays),
            arg_dtypes=tuple(a.dtype if a is not None else None for a in arrays),
        )

    @jax.custom_vjp
    def loss_fn(diff_arrays: tuple[Any, ...], rest: dict[str, Any]) -> Any:
        return _engine.plain_value(rebuild(diff_arrays, rest))

    def forward(diff_arrays: tuple[Any, ...], rest: dict[str, Any]) -> tuple[Any, Any]:
        return loss_fn(diff_arrays, rest), (diff_arrays, rest)

    def backward(residuals: Any, g: Any) -> tuple[Any, None]:
        diff_arrays, rest = residuals
        _, grads = _engine.value_and_grad(rebuild(diff_arrays, rest), diff, g)
        return tuple(grads), None

    loss_fn.defvjp(forward, backward)
    jitted = jax.jit(loss_fn)
    _JAX_FUNCTIONS[key] = jitted
    return jitted


# ----------------------------------------------------------------------- PyTorch


def torch_needs_graph(problem: Problem) -> bool:
    """True when a PyTorch call must be connected to autograd."""
    import torch

    if not torch.is_grad_enabled():
        return False
    return any(
        getattr(a, "requires_grad", False)
        for name, a in zip(problem.spec.args, problem.arrays, strict=True)
        if name in problem.spec.wrt
    )


@functools.cache
def _torch_function() -> Any:
    import torch

    class TableFunction(torch.autograd.Function):
        """Forward: the loss value; backward: the loss's gradient table."""

        @staticmethod
        def forward(ctx: Any, problem: Problem, names: tuple[str, ...], *tensors: Any) -> Any:
            ctx.problem = problem
            ctx.names = names
            return _engine.plain_value(problem)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            needed = [n for n, need in zip(ctx.names, ctx.needs_input_grad[2:], strict=True) if need]
            grads = dict.fromkeys(ctx.names)
            if needed:
                _, computed = _engine.value_and_grad(ctx.problem, needed, g)
                for name, value in zip(needed, computed, strict=True):
                    target = ctx.problem.array(name)
                    if value.shape != target.shape:
                        value = value.reshape(target.shape)
                    grads[name] = value.to(target.dtype) if value.dtype != target.dtype else value
            return (None, None, *(grads[n] for n in ctx.names))

    return TableFunction


def torch_value(problem: Problem) -> Any:
    """The loss value connected to PyTorch autograd through the gradient table."""
    spec = problem.spec
    names = tuple(
        name for name, a in zip(spec.args, problem.arrays, strict=True) if name in spec.wrt and a is not None
    )
    tensors = tuple(problem.array(name) for name in names)
    return _torch_function().apply(problem, names, *tensors)

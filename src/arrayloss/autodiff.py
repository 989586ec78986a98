"""Gradients from the tables: ``al.grad``, ``al.value_and_grad``, and the wiring of the
tables into ``jax.grad`` (``jax.custom_vjp``, in ``_autodiff_jax``) and PyTorch's
``.backward()`` (``torch.autograd.Function``, in ``_autodiff_torch``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _engine
from ._autodiff_jax import jax_value as jax_value
from ._autodiff_torch import outside_graph
from ._autodiff_torch import torch_needs_graph as torch_needs_graph
from ._autodiff_torch import torch_value as torch_value
from ._explicit_sharding import call_with_auto_axes, explicit_mesh, like, value_spec
from ._spec import LossSpec, get_spec, torch_compiling

__all__ = ["grad", "jax_value", "torch_needs_graph", "torch_value", "value_and_grad"]

Wrt = str | int | Sequence[str | int] | None


def _resolve_wrt(spec: LossSpec, wrt: Wrt) -> tuple[tuple[str, ...], bool]:
    """Argument names to differentiate, and whether the caller asked for a tuple."""
    if wrt is None:
        return (spec.wrt[0],), False
    as_tuple = isinstance(wrt, (tuple, list))
    items: list[Any] = list(wrt) if isinstance(wrt, (tuple, list)) else [wrt]
    names = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise TypeError(
                f"wrt entries must be argument names or positions, got {item!r}; "
                f"{spec.name} can be differentiated with respect to: {', '.join(spec.wrt)}"
            )
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


def value_and_grad(
    loss: Callable[..., Any], wrt: Wrt = None, *, donate: bool = False
) -> Callable[..., Any]:
    """Return a function computing ``(loss value, gradient)`` from the loss's table.

    The returned function takes the loss's own arguments plus ``cotangent=`` (the
    cotangent of the output; for ``reduction="none"`` an array shaped like the output).
    On JAX it runs as one cached ``jax.jit`` per loss and static options (see
    ``docs/autodiff.md``).

    Args:
        loss: a public arrayloss loss (``al.mse``, ``al.cross_entropy`` ...).
        wrt: the argument(s) to differentiate: a name (``"pred"``), a position, or a
            tuple of them. Default: the first argument, and the gradient is one array;
            with a tuple, the gradients come back as a tuple in that order.
        donate: JAX only: donate the buffers of the differentiated arguments to the
            jitted call, so XLA may write the gradients over them; the arrays passed
            are deleted. Ignored (a no-op, no warning) on every other backend.

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
        if torch_compiling():
            return outside_graph(evaluate, *args, cotangent=cotangent, **kwargs)
        mesh = explicit_mesh(args, {**kwargs, "cotangent": cotangent})
        if mesh is not None:  # JAX arrays sharded over Explicit mesh axes
            return call_with_auto_axes(
                evaluate,
                mesh,
                args,
                {**kwargs, "cotangent": cotangent},
                kind=f"{spec.name}.value_and_grad{names}{as_tuple}{donate}",
                layout=layout,
            )
        return evaluate(*args, cotangent=cotangent, **kwargs)

    def layout(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Any:
        """The value replicated (or like the first array), each gradient like its input."""
        value, grads = out
        specs = tuple(
            like(args[i] if i < len(args) else kwargs[name], g)
            for name, i, g in zip(
                names,
                (spec.args.index(n) for n in names),
                grads if as_tuple else (grads,),
                strict=True,
            )
        )
        return value_spec(args, value), (specs if as_tuple else specs[0])

    def evaluate(*args: Any, cotangent: Any = None, **kwargs: Any) -> tuple[Any, Any]:
        problem = prepare(*args, **kwargs)
        if problem.backend == "jax":
            from ._autodiff_jax import jax_value_and_grad

            reduced, grads = jax_value_and_grad(problem, names, cotangent, donate=donate)
        else:
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
            given is not None
            and chunks is not None
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

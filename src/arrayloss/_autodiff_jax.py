"""The gradient tables inside JAX: a cached ``jax.jit`` of a ``jax.custom_vjp`` per loss.

Every loss called with JAX arrays runs through :func:`jax_value`: a ``jax.custom_vjp``
whose forward is the value kernel and whose backward is the loss's gradient table, so
``jax.grad``, ``jax.value_and_grad`` and ``jax.vjp`` use the table instead of
differentiating the kernel. The function is built once per (loss, static options) and
wrapped in ``jax.jit``, which caches per shapes and dtypes: an eager call is one
dispatch, and a call inside the caller's ``jax.jit`` or ``jax.vmap`` is inlined.

The forward saves its inputs and the backward recomputes what it needs (the softmax of
a cross-entropy, the difference of an MSE): the residuals are never larger than the
inputs. With ``symbolic_zeros`` the backward knows which inputs are being
differentiated and computes only their gradients; an input the table has no entry for
(``weight``, a target without a table entry, an array option) gets its gradient from
autodiff of the kernel, so no gradient is silently zero.

Second order (``jax.grad`` of ``jax.grad``, ``jax.hessian``) differentiates the table
itself, which is written with the same ``xp`` functions as the kernel; a loss whose spec
sets ``second_order=False`` raises instead. Forward mode (``jax.jvp``, ``jax.jacfwd`` of
the loss itself) is not available for a ``custom_vjp`` function.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Sequence
from typing import Any

from . import _engine
from ._spec import Problem

__all__ = ["TRACES", "first_order_only", "jax_value", "jax_value_and_grad"]

#: How many times each loss's JAX function was traced (a cache miss of ``jax.jit``).
TRACES: collections.Counter[str] = collections.Counter()

_FUNCTIONS: dict[Any, Callable[..., Any]] = {}


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class _Layout:
    """The static part of a call: everything a traced function may branch on."""

    def __init__(self, problem: Problem, diff: tuple[str, ...]) -> None:
        spec = problem.spec
        self.spec = spec
        self.diff = diff
        self.static = {k: v for k, v in problem.options.items() if not hasattr(v, "shape")}
        self.array_options = tuple(
            sorted(k for k, v in problem.options.items() if hasattr(v, "shape"))
        )
        self.reduction = problem.reduction
        self.denominator = problem.denominator if isinstance(problem.denominator, str) else None
        self.key = (
            spec.name,
            id(spec),
            _freeze(self.static),
            self.array_options,
            self.reduction,
            self.denominator,
            tuple(a is not None for a in problem.arrays),
            diff,
        )

    def split(self, problem: Problem) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The differentiated arrays, and every other array of the call."""
        args = self.spec.args
        diff_arrays = tuple(problem.arrays[args.index(name)] for name in self.diff)
        rest = {
            "arrays": tuple(
                None if name in self.diff else a
                for name, a in zip(args, problem.arrays, strict=True)
            ),
            "options": {k: problem.options[k] for k in self.array_options},
            "weight": problem.weight,
            "where": problem.where,
            "denominator": None if self.denominator is not None else problem.denominator,
        }
        return diff_arrays, rest

    def rebuild(self, diff_arrays: Sequence[Any], rest: dict[str, Any], **fields: Any) -> Problem:
        """The problem again, from (possibly traced) arrays."""
        import jax.numpy as jnp

        spec = self.spec
        arrays = list(rest["arrays"])
        for name, a in zip(self.diff, diff_arrays, strict=True):
            arrays[spec.args.index(name)] = a
        problem = Problem(
            spec=spec,
            xp=jnp,
            arrays=tuple(arrays),
            options={**self.static, **rest["options"]},
            reduction=self.reduction,
            weight=rest["weight"],
            where=rest["where"],
            denominator=self.denominator if self.denominator is not None else rest["denominator"],
            out_dtype=None,
            arg_shapes=tuple(tuple(a.shape) if a is not None else () for a in arrays),
            arg_dtypes=tuple(a.dtype if a is not None else None for a in arrays),
        )
        for name, value in fields.items():
            setattr(problem, name, value)
        return problem


def _differentiable(problem: Problem) -> tuple[str, ...]:
    spec = problem.spec
    return tuple(
        name
        for name, a in zip(spec.args, problem.arrays, strict=True)
        if name in spec.wrt and a is not None
    )


# ------------------------------------------------------------------ the value


def jax_value(problem: Problem) -> Any:
    """The loss value as a ``jax.custom_vjp`` whose backward is the gradient table.

    Eager calls go through a ``jax.jit`` cached per loss and static options (and, by
    ``jax.jit`` itself, per shapes and dtypes), so the Python overhead is one dispatch.
    A loss with its own JAX implementation (``LossSpec.jax_value``, e.g. the
    large-vocabulary cross-entropy that keeps only per-row residuals) uses that instead.
    """
    if problem.spec.jax_value is not None:
        own = problem.spec.jax_value(problem)
        if own is not NotImplemented:
            return _engine.cast_result(problem.xp, own, problem.out_dtype)
    layout = _Layout(problem, _differentiable(problem))
    key = ("value", *layout.key)
    fn = _FUNCTIONS.get(key)
    if fn is None:
        # setdefault: threads that miss at once all use the first function stored, so
        # JAX traces and compiles it once
        fn = _FUNCTIONS.setdefault(key, _value_function(layout))
    diff_arrays, rest = layout.split(problem)
    return _engine.cast_result(problem.xp, fn(diff_arrays, rest), problem.out_dtype)


def _value_function(layout: _Layout) -> Callable[..., Any]:
    import jax
    from jax.custom_derivatives import SymbolicZero

    spec = layout.spec
    diff = layout.diff

    def plain(diff_arrays: Sequence[Any], rest: dict[str, Any]) -> Any:
        return _engine.plain_value(layout.rebuild(diff_arrays, rest))

    def loss_fn(diff_arrays: tuple[Any, ...], rest: dict[str, Any]) -> Any:
        TRACES[spec.name] += 1
        return plain(diff_arrays, rest)

    def gradient_table(
        diff_arrays: tuple[Any, ...], rest: dict[str, Any], g: Any, names: tuple[str, ...]
    ) -> tuple[Any, ...]:
        problem = layout.rebuild(diff_arrays, rest)
        # XLA drops the value computed alongside: only the gradients are used.
        grads = _engine.value_and_grad(problem, names, g)[1]
        if not spec.second_order:
            guard = first_order_only(spec.name)
            grads = tuple(guard(v) for v in grads)
        return grads

    # Named after the loss, so jaxprs and profiles show ``custom_vjp_call[name=mse``
    # and, under ``jax.grad``, ``jit[name=mse_gradient_table``.
    loss_fn.__name__ = loss_fn.__qualname__ = spec.name
    gradient_table.__name__ = gradient_table.__qualname__ = f"{spec.name}_gradient_table"
    loss_fn = jax.custom_vjp(loss_fn)
    table_jit = jax.jit(gradient_table, static_argnames="names")

    def forward(diff_primals: tuple[Any, ...], rest_primals: dict[str, Any]) -> tuple[Any, Any]:
        diff_arrays = tuple(p.value for p in diff_primals)
        leaves, treedef = jax.tree.flatten(rest_primals, is_leaf=_is_primal)
        rest = jax.tree.unflatten(treedef, [p.value for p in leaves])
        # Which inputs are being differentiated, carried to the backward as the
        # (static) structure of an empty residual.
        wanted = {
            "diff": {name: () for name, p in zip(diff, diff_primals, strict=True) if p.perturbed},
            "rest": {f"{i:06d}": () for i, p in enumerate(leaves) if p.perturbed},
        }
        # The forward is the plain kernel, not ``loss_fn``: a custom_vjp called inside
        # its own forward would block forward-over-reverse (``jax.hessian``).
        return plain(diff_arrays, rest), (diff_arrays, rest, wanted)

    def backward(residuals: Any, g: Any) -> tuple[Any, Any]:
        diff_arrays, rest, wanted = residuals
        leaves, treedef = jax.tree.flatten(rest)
        if isinstance(g, SymbolicZero):
            return tuple(None for _ in diff), jax.tree.unflatten(treedef, [None] * len(leaves))
        names = tuple(name for name in diff if name in wanted["diff"])
        table: dict[str, Any] = {}
        if names:
            table = dict(zip(names, table_jit(diff_arrays, rest, g, names=names), strict=True))
        diff_cot = tuple(table.get(name) for name in diff)
        chosen = sorted(int(i) for i in wanted["rest"])
        rest_cot: list[Any] = [None] * len(leaves)
        if chosen:
            # Inputs without a table entry (weight, array options, a target the table
            # does not cover): autodiff of the kernel.
            def of_chosen(values: list[Any]) -> Any:
                new = list(leaves)
                for i, v in zip(chosen, values, strict=True):
                    new[i] = v
                return plain(diff_arrays, jax.tree.unflatten(treedef, new))

            _, pullback = jax.vjp(of_chosen, [leaves[i] for i in chosen])
            for i, c in zip(chosen, pullback(g)[0], strict=True):
                rest_cot[i] = c
        return diff_cot, jax.tree.unflatten(treedef, rest_cot)

    loss_fn.defvjp(forward, backward, symbolic_zeros=True)
    return jax.jit(loss_fn)


def _is_primal(x: Any) -> bool:
    from jax.custom_derivatives import CustomVJPPrimal

    return isinstance(x, CustomVJPPrimal)


@functools.cache
def first_order_only(name: str) -> Callable[[Any], Any]:
    """Identity whose derivative raises: wraps the gradients of a loss without second
    order (``LossSpec.second_order=False``), here and in a loss's own ``custom_vjp``."""
    import jax

    @jax.custom_jvp
    def first_order(x: Any) -> Any:
        return x

    @first_order.defjvp
    def refuse(primals: Any, tangents: Any) -> Any:
        raise NotImplementedError(
            f"second-order gradients are not available for {name}: its gradient table "
            "is not differentiable (LossSpec.second_order is False); differentiate it "
            "once, or differentiate a plain jax.numpy formula of the loss"
        )

    return first_order


# --------------------------------------------------------- value and gradient


def jax_value_and_grad(
    problem: Problem, wrt: tuple[str, ...], cotangent: Any, *, donate: bool = False
) -> tuple[Any, tuple[Any, ...]]:
    """``al.value_and_grad`` on JAX arrays: the table under one cached ``jax.jit``.

    With ``donate=True`` the buffers of the differentiated arguments are donated to
    the call (``jax.jit(..., donate_argnums=...)``): XLA may write the gradients over
    them, and the arrays the caller passed are deleted. An argument is donated only
    where its gradient has its shape and dtype (no low-precision cast, no reshape) and
    it is not passed twice.
    """
    _engine.check_wrt(problem, wrt)
    layout = _Layout(problem, wrt)
    diff_arrays, rest = layout.split(problem)
    donated = tuple(donate and _donatable(problem, name) for name in wrt)
    if cotangent is not None and hasattr(cotangent, "shape"):
        from . import _dispatch

        cotangent = _dispatch.convert(cotangent, problem.xp)
    dtypes = tuple(problem.arg_dtypes[problem.spec.args.index(n)] for n in wrt)
    key = (
        "value_and_grad",
        *layout.key,
        donated,
        _freeze(problem.user_shapes),
        tuple(str(d) for d in dtypes),
        str(problem.out_dtype),
        cotangent is None,
    )
    fn = _FUNCTIONS.get(key)
    if fn is None:
        fn = _FUNCTIONS.setdefault(key, _value_and_grad_function(layout, problem, donated))
    give = tuple(a for a, d in zip(diff_arrays, donated, strict=True) if d)
    keep = tuple(a for a, d in zip(diff_arrays, donated, strict=True) if not d)
    return fn(give, keep, rest, cotangent)


def _donatable(problem: Problem, name: str) -> bool:
    index = problem.spec.args.index(name)
    a = problem.arrays[index]
    if problem.arg_dtypes[index] != a.dtype or name in problem.user_shapes:
        return False
    others = [b for i, b in enumerate(problem.arrays) if i != index]
    others += [problem.weight, problem.where, *problem.options.values()]
    return not any(b is a for b in others)


def _value_and_grad_function(
    layout: _Layout, problem: Problem, donated: tuple[bool, ...]
) -> Callable[..., Any]:
    import jax

    spec = layout.spec
    user_shapes = dict(problem.user_shapes)
    out_dtype = problem.out_dtype
    arg_dtypes = list(problem.arg_dtypes)

    def run(give: tuple[Any, ...], keep: tuple[Any, ...], rest: dict[str, Any], cot: Any) -> Any:
        TRACES[spec.name] += 1
        given, kept = iter(give), iter(keep)
        diff_arrays = [next(given) if d else next(kept) for d in donated]
        problem = layout.rebuild(diff_arrays, rest, user_shapes=user_shapes, out_dtype=out_dtype)
        problem.arg_dtypes = tuple(
            dtype if name in layout.diff else None
            for name, dtype in zip(spec.args, arg_dtypes, strict=True)
        )
        value, grads = _engine.value_and_grad(problem, layout.diff, cot)
        if not spec.second_order:
            guard = first_order_only(spec.name)
            grads = tuple(guard(g) for g in grads)
        return value, grads

    return jax.jit(run, donate_argnums=(0,) if any(donated) else ())

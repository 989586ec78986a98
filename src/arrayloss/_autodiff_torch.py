"""The gradient tables inside PyTorch autograd: a ``torch.autograd.Function`` per call.

A loss called with tensors that require gradients returns a result whose ``grad_fn``
is :class:`TableFunction`: the forward is the value kernel (no graph is recorded), the
backward is the loss's gradient table, so ``loss.backward()`` costs one pass of the
table rather than autograd through the kernel. The inputs are kept with
``ctx.save_for_backward`` (PyTorch's version counter catches an input modified in place
before the backward) and the backward recomputes what it needs.

Tensors without a table entry that require gradients (``weight``, an array option, a
target the table does not cover) get theirs from autograd of the kernel, recomputed in
the backward. Double backward (``create_graph=True``) differentiates the table, which is
written with torch operations; a loss whose spec sets ``second_order=False`` raises when
its gradient is differentiated.

Under ``torch.compile`` every arrayloss call is excluded from the graph
(:func:`outside_graph`, ``torch.compiler.disable``): Dynamo breaks the graph around it
and the loss runs eagerly with the same table, so a compiled training step works
unchanged (the rest of the step is still compiled).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

from . import _engine, fast
from ._spec import Problem

__all__ = ["outside_graph", "torch_needs_graph", "torch_value"]

# Where a tensor sits in a Problem: ("arrays", index) | ("weight",) | ("where",)
# | ("denominator",) | ("options", key).
Slot = tuple[Any, ...]


def torch_needs_graph(problem: Problem) -> bool:
    """True when a PyTorch call must be connected to autograd through the table."""
    import torch

    if not torch.is_grad_enabled():
        return False
    return any(
        getattr(a, "requires_grad", False)
        for name, a in zip(problem.spec.args, problem.arrays, strict=True)
        if name in problem.spec.wrt
    )


def _tensor_slots(problem: Problem) -> list[tuple[Slot, Any]]:
    import torch

    found: list[tuple[Slot, Any]] = [
        (("arrays", i), a) for i, a in enumerate(problem.arrays) if isinstance(a, torch.Tensor)
    ]
    for field in ("weight", "where", "denominator"):
        value = getattr(problem, field)
        if isinstance(value, torch.Tensor):
            found.append(((field,), value))
    found += [
        (("options", k), v) for k, v in problem.options.items() if isinstance(v, torch.Tensor)
    ]
    return found


def _with_tensors(
    problem: Problem, slots: Sequence[Slot], tensors: Sequence[Any], **fields: Any
) -> Problem:
    arrays = list(problem.arrays)
    options = dict(problem.options)
    changes: dict[str, Any] = dict(fields)
    for slot, t in zip(slots, tensors, strict=True):
        if slot[0] == "arrays":
            arrays[slot[1]] = t
        elif slot[0] == "options":
            options[slot[1]] = t
        else:
            changes[slot[0]] = t
    return dataclasses.replace(problem, arrays=tuple(arrays), options=options, **changes)


class _Call:
    """One call, handed to the Function: the problem, and where its tensors sit.

    The forward keeps only the skeleton (the problem without its tensors, which travel
    through ``save_for_backward``) for the backward.
    """

    def __init__(self, problem: Problem) -> None:
        pairs = _tensor_slots(problem)
        self.problem: Problem | None = problem
        self.skeleton: Problem | None = None
        self.slots = [slot for slot, _ in pairs]
        spec = problem.spec
        self.table = [
            i
            for i, (slot, t) in enumerate(pairs)
            if slot[0] == "arrays" and spec.args[slot[1]] in spec.wrt and t.is_floating_point()
        ]
        # Floating tensors the table does not cover but autograd may want.
        self.others = [
            i
            for i, (slot, t) in enumerate(pairs)
            if i not in self.table and t.is_floating_point() and t.requires_grad
        ]
        self.tensors: list[Any] | None = [t for _, t in pairs]

    def release(self) -> Problem:
        """The problem, for the forward; afterwards only the skeleton is kept."""
        problem = self.problem
        assert problem is not None, "a _Call runs its forward once"
        self.skeleton = _with_tensors(problem, self.slots, [None] * len(self.slots))
        self.problem = self.tensors = None
        return problem


def _table_gradients(problem: Problem, names: tuple[str, ...], g: Any) -> tuple[Any, ...]:
    """The table's gradients: a gradient-only fast kernel if one covers the call."""
    if not fast.disabled():
        from .fast import torch as fast_torch

        computed = fast_torch.gradients(problem, names, g)
        if computed is not NotImplemented:
            return tuple(computed)
    return _engine.gradients(problem, names, g)


def _table_backward(ctx: Any, g: Any) -> tuple[Any, ...]:
    import torch

    call: _Call = ctx.call
    tensors = ctx.saved_tensors
    skeleton = call.skeleton
    assert skeleton is not None
    # Gradients shaped and typed like the tensors handed to the Function: autograd
    # carries them back through prepare's casts and reshapes.
    problem = _with_tensors(
        skeleton,
        call.slots,
        tensors,
        out_dtype=None,
        arg_dtypes=tuple(None for _ in skeleton.arrays),
        user_shapes={},
    )
    spec = problem.spec
    inputs = [*call.table, *call.others]
    needed = [i for i, need in zip(inputs, ctx.needs_input_grad[1:], strict=True) if need]
    grads: dict[int, Any] = {}
    table = [i for i in needed if i in call.table]
    if table:
        names = [spec.args[call.slots[i][1]] for i in table]
        computed = _table_gradients(problem, tuple(names), g)
        if not spec.second_order and torch.is_grad_enabled():
            computed = _first_order_only().apply(spec.name, *computed)
        grads.update(zip(table, computed, strict=True))
    others = [i for i in needed if i in call.others]
    if others:
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            value = _engine.plain_value(problem)
            wanted = [tensors[i] for i in others]
            computed = torch.autograd.grad(
                value, wanted, g, create_graph=create_graph, allow_unused=True
            )
        computed = tuple(
            torch.zeros_like(t) if c is None else c for t, c in zip(wanted, computed, strict=True)
        )
        grads.update(zip(others, computed, strict=True))
    return (None, *(grads.get(i) for i in inputs))


@functools.cache
def _function() -> Any:
    import torch

    # Dynamo traces the backward of a Function called in a compiled step
    # (``loss.backward()`` inside ``torch.compile``); the table runs eagerly instead.
    backward = torch.compiler.disable(_table_backward, recursive=True)

    class TableFunction(torch.autograd.Function):
        """Forward: the loss value; backward: the loss's gradient table."""

        @staticmethod
        def forward(ctx: Any, call: _Call, *inputs: Any) -> Any:
            ctx.call = call
            ctx.save_for_backward(*(call.tensors or ()))
            return _engine.plain_value(call.release())

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return backward(ctx, g)

    return TableFunction


@functools.cache
def _first_order_only() -> Any:
    import torch

    class FirstOrderOnly(torch.autograd.Function):
        """Identity on gradients whose own derivative raises."""

        @staticmethod
        def forward(ctx: Any, name: str, *grads: Any) -> Any:
            ctx.loss_name = name
            return tuple(g.clone() for g in grads)

        @staticmethod
        def backward(ctx: Any, *cotangents: Any) -> Any:
            raise RuntimeError(
                f"second-order gradients are not available for {ctx.loss_name}: its "
                "gradient table is not differentiable (LossSpec.second_order is False)"
            )

    return FirstOrderOnly


def torch_value(problem: Problem) -> Any:
    """The loss value connected to PyTorch autograd through the gradient table."""
    call = _Call(problem)
    tensors = call.tensors or []
    inputs = [tensors[i] for i in (*call.table, *call.others)]
    return _function().apply(call, *inputs)


def outside_graph(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` run eagerly, outside the graph ``torch.compile`` traces.

    Dynamo breaks the graph at the call, so the loss's validation (value checks read
    tensor values) and its Function run as in eager mode, with the same table.
    """
    import torch

    return torch.compiler.disable(fn, recursive=True)(*args, **kwargs)

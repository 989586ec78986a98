"""Losses on JAX arrays sharded over ``Explicit`` mesh axes (sharding in types).

``jax.make_mesh`` makes ``Explicit`` axes by default: an array's type carries its
sharding, and JAX rejects at trace time any operation whose operands are laid out
differently (``where(mask_split_over_the_batch, replicated_scalar_broadcast, 0)``, or the
``(N, N)`` comparison of a batch-split vector with itself in ``ntxent``). The kernels are
written once against the array API standard and know nothing of meshes, so a loss whose
inputs have ``Explicit`` axes runs with those axes turned ``Auto``
(:func:`jax.sharding.use_abstract_mesh`), inside one cached ``jax.jit``: XLA propagates
the inputs' shardings through the kernel as for any ``Auto`` mesh (the batch stays split;
no all-gather), and the results are resharded to the types the caller expects: a reduced
value replicated, a per-element loss and every gradient laid out like its input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ._spec import Problem

__all__ = ["explicit_mesh", "gradient_layout", "value_layout", "with_auto_axes"]

_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def _leaves(problem: Problem, extra: Any = None) -> dict[str, Any]:
    """Every array of a call, as a pytree (``None`` where absent)."""
    return {
        "arrays": list(problem.arrays),
        "options": {k: v for k, v in problem.options.items() if hasattr(v, "shape")},
        "weight": problem.weight,
        "where": problem.where,
        "denominator": problem.denominator if hasattr(problem.denominator, "shape") else None,
        "extra": extra,
    }


def _with_leaves(problem: Problem, leaves: dict[str, Any]) -> Problem:
    denominator = leaves["denominator"]
    return dataclasses.replace(
        problem,
        arrays=tuple(leaves["arrays"]),
        options={**problem.options, **leaves["options"]},
        weight=leaves["weight"],
        where=leaves["where"],
        denominator=problem.denominator if denominator is None else denominator,
    )


def explicit_mesh(problem: Problem, extra: Any = None) -> Any:
    """The (abstract) mesh of an input whose type has ``Explicit`` axes, else None."""
    import jax
    from jax.sharding import AxisType

    for leaf in jax.tree.leaves(_leaves(problem, extra)):
        sharding = getattr(jax.typeof(leaf), "sharding", None)
        mesh = getattr(sharding, "mesh", None)
        if mesh is not None and not mesh.empty and AxisType.Explicit in mesh.axis_types:
            return mesh
    return None


def _like(sharding: Any, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Any:
    """The partition of an output laid out like an input: the input's partition on the
    leading axes both have with equal lengths, replicated from the first that differs."""
    from jax.sharding import PartitionSpec as P

    parts = [*sharding.spec, *[None] * (len(shape) - len(sharding.spec))]
    out: list[Any] = []
    for axis, size in enumerate(out_shape):
        if axis >= len(shape) or shape[axis] != size:
            break
        out.append(parts[axis])
    return P(*out, *[None] * (len(out_shape) - len(out)))


def value_layout(problem: Problem, value: Any) -> Any:
    """A reduced value is replicated; a ``"none"`` loss is laid out like the first input."""
    import jax
    from jax.sharding import PartitionSpec as P

    if value.ndim == 0:
        return P()
    first = next(a for a in problem.arrays if a is not None and a.ndim > 0)
    return _like(jax.typeof(first).sharding, tuple(first.shape), tuple(value.shape))


def gradient_layout(problem: Problem, name: str, grad: Any) -> Any:
    """A gradient is laid out like the argument it belongs to."""
    import jax

    x = problem.array(name)
    return _like(jax.typeof(x).sharding, tuple(x.shape), tuple(grad.shape))


def _static_key(problem: Problem, mesh: Any, kind: Any) -> str:
    """Everything the traced function reads from the problem besides its arrays."""
    static = sorted((k, v) for k, v in problem.options.items() if not hasattr(v, "shape"))
    return repr(
        (
            kind,
            problem.spec.name,
            id(problem.spec),
            problem.reduction,
            static,
            problem.denominator if isinstance(problem.denominator, str) else None,
            problem.arg_shapes,
            tuple(str(d) for d in problem.arg_dtypes),
            str(problem.out_dtype),
            problem.loss_shape,
            sorted(problem.user_shapes.items()),
            mesh,
        )
    )


def with_auto_axes(
    problem: Problem,
    mesh: Any,
    compute: Callable[[Problem, Any], Any],
    layout: Callable[[Problem, Any], Any],
    *,
    kind: Any,
    extra: Any = None,
) -> Any:
    """``compute(problem, extra)`` with the ``Explicit`` axes of ``mesh`` made ``Auto``.

    ``layout(problem, out)`` gives the partition specs of the output pytree, from the
    caller's (Explicit-typed) inputs; ``kind`` names the computation in the cache key.
    """
    import jax
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    key = _static_key(problem, mesh, kind)
    fn = _FUNCTIONS.get(key)
    if fn is None:
        # A template without arrays: the cache must not keep the caller's buffers alive.
        template = _with_leaves(problem, jax.tree.map(lambda _: None, _leaves(problem)))
        auto = mesh.update_axis_types(
            {
                n: AxisType.Auto
                for n, t in zip(mesh.axis_names, mesh.axis_types, strict=True)
                if t == AxisType.Explicit
            }
        )

        def run(leaves: dict[str, Any]) -> Any:
            with jax.sharding.use_abstract_mesh(auto):
                unsplit = jax.tree.map(
                    lambda a: jax.sharding.reshard(a, P(*[None] * a.ndim)), leaves
                )
                out = compute(_with_leaves(template, unsplit), unsplit["extra"])
            specs = layout(_with_leaves(template, leaves), out)
            # the specs are flattened up to the structure of ``out``: each one a leaf
            return jax.tree.map(
                lambda o, spec: jax.sharding.reshard(o, NamedSharding(mesh, spec)), out, specs
            )

        fn = _FUNCTIONS[key] = jax.jit(run)
    return fn(_leaves(problem, extra))

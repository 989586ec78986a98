"""JAX path of ``linear_cross_entropy`` / ``chunked_cross_entropy``: ``lax.scan`` over row
blocks and a ``custom_vjp`` whose residuals are the inputs plus the per-row
log-sum-exp (``[N]``), never a block of logits.

The rows are padded to a whole number of blocks (padded rows are ignored), so one
compiled block body serves every block. Only the full-vocabulary layout is scanned here
(``vocab_chunk_size >= V``); vocabulary-chunked calls use the portable sweep.
"""

from __future__ import annotations

import functools
from typing import Any

from .._autodiff_jax import first_order_only

__all__ = ["jax_value", "supported"]


def supported(problem: Any) -> bool:
    options = problem.options
    n_classes = _n_classes(problem)
    return options["vocab_chunk_size"] >= n_classes and n_classes > 0


def _n_classes(problem: Any) -> int:
    if problem.spec.name == "linear_cross_entropy":
        return int(problem.arrays[1].shape[0])
    return int(problem.arrays[0].shape[1])


def jax_value(problem: Any) -> Any:
    """The reduced loss as a ``jax.custom_vjp`` (jitted, cached per static options)."""
    linear = problem.spec.name == "linear_cross_entropy"
    options = problem.options
    key = (
        linear,
        problem.reduction,
        options["ignore_index"],
        options["label_smoothing"],
        options["chunk_size"],
        linear and problem.arrays[3] is not None,
        (problem.arrays[4] if linear else problem.arrays[2]) is not None,
        problem.where is not None,
    )
    fn = _build(*key)
    inputs: tuple[Any, ...]
    if linear:
        hidden, weight, target, bias, class_weight = problem.arrays
        inputs = (hidden, weight, bias)
    else:
        logits, target, class_weight = problem.arrays
        inputs = (logits,)
    return fn(inputs, (target, class_weight, problem.where, problem.denominator))


@functools.cache
def _build(
    linear: bool,
    reduction: str,
    ignore_index: int,
    eps: float,
    rows: int,
    has_bias: bool,
    has_class_weight: bool,
    has_where: bool,
) -> Any:
    import jax
    import jax.numpy as jnp

    def blocks(x: Any, n_blocks: int) -> Any:
        pad = n_blocks * rows - x.shape[0]
        widths = [(0, pad)] + [(0, 0)] * (x.ndim - 1)
        fill = ignore_index if jnp.issubdtype(x.dtype, jnp.integer) else 0
        return jnp.pad(x, widths, constant_values=fill).reshape((n_blocks, rows, *x.shape[1:]))

    def logits_of(inputs: tuple[Any, ...], h_block: Any) -> Any:
        if not linear:
            return h_block
        _, weight, bias = inputs
        z = h_block @ weight.T
        return z + bias if has_bias else z

    def per_row(inputs: tuple[Any, ...], rest: tuple[Any, ...]) -> tuple[Any, Any, Any]:
        """(losses [N], lse [N], number of blocks) by a scan over row blocks."""
        target, class_weight, _, _ = rest
        x = inputs[0]
        n_rows = x.shape[0]
        n_blocks = max(1, -(-n_rows // rows))
        n_classes = inputs[1].shape[0] if linear else x.shape[1]
        w = class_weight if has_class_weight else jnp.ones((n_classes,), x.dtype)
        w_sum = jnp.sum(w)

        def body(carry: None, item: tuple[Any, Any]) -> tuple[None, tuple[Any, Any]]:
            x_block, y_block = item
            z = logits_of(inputs, x_block)
            keep = y_block != ignore_index
            invalid = keep & ((y_block < 0) | (y_block >= n_classes))
            safe = jnp.where(keep & ~invalid, y_block, 0)
            lse = jax.nn.logsumexp(z, axis=1)
            z_y = jnp.take_along_axis(z, safe[:, None], axis=1)[:, 0]
            loss = (1 - eps) * w[safe] * (lse - z_y)
            if eps:
                weighted = jnp.sum(jnp.where(w == 0, 0.0, w * z), axis=1)
                loss = loss + (eps / n_classes) * (w_sum * lse - weighted)
            loss = jnp.where(keep, loss, 0.0)
            return None, (jnp.where(invalid, jnp.nan, loss), lse)

        _, (losses, lse) = jax.lax.scan(body, None, (blocks(x, n_blocks), blocks(target, n_blocks)))
        return losses.reshape(-1)[:n_rows], lse.reshape(-1)[:n_rows], n_blocks

    def reduce(losses: Any, rest: tuple[Any, ...]) -> Any:
        _, _, where, denominator = rest
        terms = jnp.where(where, losses, 0.0) if has_where else losses
        if reduction == "none":
            return terms
        total = jnp.sum(terms)
        if reduction == "sum":
            return total
        return jnp.where(
            denominator == 0, jnp.nan, total / jnp.where(denominator == 0, 1, denominator)
        )

    @jax.custom_vjp
    def loss_fn(inputs: tuple[Any, ...], rest: tuple[Any, ...]) -> Any:
        return reduce(per_row(inputs, rest)[0], rest)

    def forward(inputs: tuple[Any, ...], rest: tuple[Any, ...]) -> tuple[Any, Any]:
        losses, lse, _ = per_row(inputs, rest)
        return reduce(losses, rest), (inputs, rest, lse)

    def backward(residuals: Any, g: Any) -> tuple[Any, None]:
        inputs, rest, lse = residuals
        target, class_weight, where, denominator = rest
        x = inputs[0]
        n_rows = x.shape[0]
        n_blocks = max(1, -(-n_rows // rows))
        n_classes = inputs[1].shape[0] if linear else x.shape[1]
        w = class_weight if has_class_weight else jnp.ones((n_classes,), x.dtype)
        w_sum = jnp.sum(w)
        cot = jnp.broadcast_to(g, (n_rows,)) if reduction == "none" else jnp.full((n_rows,), g)
        if reduction == "mean":
            cot = cot / jnp.where(denominator == 0, 1, denominator)
        if has_where:
            cot = jnp.where(where, cot, 0.0)

        def body(carry: tuple[Any, Any], item: tuple[Any, ...]) -> tuple[tuple[Any, Any], Any]:
            x_block, y_block, lse_block, c = item
            z = logits_of(inputs, x_block)
            keep = y_block != ignore_index
            safe = jnp.where(keep & (y_block >= 0) & (y_block < n_classes), y_block, 0)
            c = jnp.where(keep, c, 0.0)
            a = (1 - eps) * w[safe] + (eps / n_classes) * w_sum
            dz = (c * a)[:, None] * jnp.exp(z - lse_block[:, None])
            onehot = jnp.arange(n_classes)[None, :] == safe[:, None]
            dz = dz - jnp.where(onehot, (c * (1 - eps) * w[safe])[:, None], 0.0)
            if eps:
                dz = dz - (c * eps / n_classes)[:, None] * w[None, :]
            if not linear:
                return carry, dz
            _, weight, _ = inputs
            grad_weight, grad_bias = carry
            carry = (grad_weight + dz.T @ x_block, grad_bias + jnp.sum(dz, axis=0))
            return carry, dz @ weight

        if linear:
            _, weight, _ = inputs
            init = (jnp.zeros_like(weight), jnp.zeros((n_classes,), weight.dtype))
        else:
            init = (jnp.zeros(()), jnp.zeros(()))
        items = (
            blocks(x, n_blocks),
            blocks(target, n_blocks),
            blocks(lse, n_blocks),
            blocks(cot, n_blocks),
        )
        (grad_weight, grad_bias), per_block = jax.lax.scan(body, init, items)
        grad_x = per_block.reshape((n_blocks * rows, *per_block.shape[2:]))[:n_rows]
        # The specs declare no second order: differentiating these gradients raises.
        guard = first_order_only("linear_cross_entropy" if linear else "chunked_cross_entropy")
        if not linear:
            return (guard(grad_x),), None
        return (guard(grad_x), guard(grad_weight), guard(grad_bias) if has_bias else None), None

    loss_fn.defvjp(forward, backward)
    return jax.jit(loss_fn)

"""NumPy fast path of ``linear_cross_entropy`` and ``chunked_cross_entropy``.

One sweep over row blocks, each block's logits ``[R, V]`` in ONE buffer that this
function owns: the logits are formed there (BLAS), turned into ``exp`` in place, scaled
into the gradient in place, and multiplied back into the ``hidden`` / ``weight``
gradients (BLAS), so the extra memory is one block plus one ``[T, H]`` staging buffer
for the ``weight`` gradient (``T`` = 2048 classes at a time). Falls back to the portable
sweep for vocabulary-chunked calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._reduce import loss_cotangent, reduce_loss

__all__ = ["fused_numpy"]

#: classes per staging slice of the weight-gradient update (2048 x H floats)
_STAGE = 2048


def _row_cotangent(problem: Any, cotangent: Any, n_rows: int, dtype: Any) -> np.ndarray:
    return np.asarray(
        loss_cotangent(
            problem.xp,
            np.zeros((n_rows,), dtype=dtype),
            reduction=problem.reduction,
            weight=problem.weight,
            where=problem.where,
            denominator=problem.denominator,
            cotangent=cotangent,
        )
    )


def fused_numpy(problem: Any, wrt: tuple[str, ...], cotangent: Any, portable: Any) -> Any:
    """Value and gradients of the large-vocabulary losses with in-place NumPy blocks."""
    options = problem.options
    name = problem.spec.name
    linear = name == "linear_cross_entropy"
    if linear:
        hidden, weight, target, bias, class_weight = problem.arrays
        n_rows, n_classes = hidden.shape[0], weight.shape[0]
        dtype = hidden.dtype
    else:
        logits, target, class_weight = problem.arrays
        n_rows, n_classes = logits.shape
        dtype = logits.dtype
    if options["vocab_chunk_size"] < n_classes or n_rows == 0 or n_classes == 0:
        return portable(problem, wrt, cotangent)
    eps = options["label_smoothing"]
    keep = target != options["ignore_index"]
    safe = np.where(keep, target, 0)
    w_target = np.ones(n_rows, dtype) if class_weight is None else class_weight[safe]
    w_classes = np.ones(n_classes, dtype) if class_weight is None else class_weight
    w_sum = dtype.type(n_classes) if class_weight is None else w_classes.sum()
    cot = _row_cotangent(problem, cotangent, n_rows, dtype) * keep if wrt else None

    losses = np.empty(n_rows, dtype)
    grads: dict[str, np.ndarray] = {}
    if linear:
        if "hidden" in wrt:
            grads["hidden"] = np.empty_like(hidden)
        if "weight" in wrt:
            grads["weight"] = np.zeros_like(weight)
        if "bias" in wrt:
            grads["bias"] = np.zeros(n_classes, dtype)
        rows_stage = min(n_classes, _STAGE) if "weight" in wrt else 0
        stage = np.empty((rows_stage, hidden.shape[1]), dtype)
    elif "logits" in wrt:
        reuse = (
            options.get("overwrite_logits") and logits.flags.writeable and logits.flags.c_contiguous
        )
        grads["logits"] = logits if reuse else np.empty_like(logits)
    rows_per_block = options["chunk_size"]
    block = np.empty((min(rows_per_block, n_rows) if linear else 0, n_classes), dtype)
    for start in range(0, n_rows, rows_per_block):
        stop = min(start + rows_per_block, n_rows)
        count = stop - start
        if linear:
            z = block[:count]
            np.matmul(hidden[start:stop], weight.T, out=z)
            if bias is not None:
                z += bias
        else:
            out = grads.get("logits")
            z = out[start:stop] if out is not None else np.empty((count, n_classes), dtype)
            if z is not logits and not np.shares_memory(z, logits):
                np.copyto(z, logits[start:stop])
        index = np.arange(count)
        y = safe[start:stop]
        z_target = z[index, y]
        z_weighted = z @ w_classes if eps else 0.0
        shift = z.max(axis=1)
        shift[~np.isfinite(shift)] = 0
        z -= shift[:, None]
        np.exp(z, out=z)
        total = z.sum(axis=1)
        lse = np.log(total) + shift
        loss = (1 - eps) * w_target[start:stop] * (lse - z_target)
        if eps:
            loss += (eps / n_classes) * (w_sum * lse - z_weighted)
        losses[start:stop] = np.where(keep[start:stop], loss, 0)
        if cot is None:
            continue
        c = cot[start:stop]
        scale = c * ((1 - eps) * w_target[start:stop] + (eps / n_classes) * w_sum) / total
        z *= scale[:, None]
        z[index, y] -= c * (1 - eps) * w_target[start:stop]
        if eps:
            for col in range(0, n_classes, _STAGE):
                end = min(col + _STAGE, n_classes)
                z[:, col:end] -= np.multiply.outer(c * (eps / n_classes), w_classes[col:end])
        if not linear:
            continue
        if "hidden" in grads:
            np.matmul(z, weight, out=grads["hidden"][start:stop])
        if "weight" in grads:
            h_rows = hidden[start:stop]
            for col in range(0, n_classes, _STAGE):
                end = min(col + _STAGE, n_classes)
                staged = stage[: end - col]
                np.matmul(z[:, col:end].T, h_rows, out=staged)
                grads["weight"][col:end] += staged
        if "bias" in grads:
            grads["bias"] += z.sum(axis=0)
    reduced = reduce_loss(
        problem.xp,
        losses,
        reduction=problem.reduction,
        weight=problem.weight,
        where=problem.where,
        denominator=problem.denominator,
    )
    return reduced, tuple(grads[n] for n in wrt)

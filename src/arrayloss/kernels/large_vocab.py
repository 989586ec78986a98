"""Cross-entropy over a large vocabulary without materialising the ``[N, V]`` logits.

The logits are visited block by block: ``chunk_size`` token rows at a time and, within a
row block, ``vocab_chunk_size`` classes at a time with an online (streaming)
log-sum-exp. With one vocabulary block per row block (the default) value and gradient
come out of a single sweep that holds one ``[chunk_size, V]`` block; with several
vocabulary blocks the sweep makes two passes over each row block (log-sum-exp, then the
gradient, recomputing the block).

Per row ``i`` with target ``y``, class weights ``w`` (ones by default), smoothing ``ε``
and ``V`` classes, PyTorch's ``cross_entropy`` is

.. math:: \\ell_i = (1-ε)\\, w_y (\\mathrm{lse}_i - z_{iy})
          + \\frac{ε}{V} \\sum_c w_c (\\mathrm{lse}_i - z_{ic})

(0 for ignored rows), and its gradient is

.. math:: \\frac{\\partial \\ell_i}{\\partial z_{ic}} = A_i\\, p_{ic} - (1-ε) w_y [c = y]
          - \\frac{ε}{V} w_c, \\qquad A_i = (1-ε) w_y + \\frac{ε}{V} \\sum_c w_c .

A :class:`LogitSource` says where the blocks come from: given logits
(``chunked_cross_entropy``) or ``hidden @ weight.T + bias`` computed per block
(``linear_cross_entropy``), and how block gradients are accumulated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["GivenLogits", "LinearLogits", "default_chunk_size", "sweep"]

#: The block of logits a sweep holds at once, by default (DESIGN.md section 8).
BLOCK_BYTES = 64 * 2**20


def default_chunk_size(n_rows: int, n_classes: int, itemsize: int) -> int:
    """Rows per block: at most 64 MiB of logits and at most 1/16 of the rows.

    The 1/16 keeps the extra memory under 10 % of the materialised logits for any N;
    the 64 MiB keeps the block large enough for efficient BLAS calls (about 512 rows of
    a 32k vocabulary in float32).
    """
    by_bytes = max(1, BLOCK_BYTES // max(1, n_classes * itemsize))
    by_fraction = max(1, math.ceil(n_rows / 16))
    return max(1, min(by_bytes, by_fraction))


def _ranges(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, n)) for start in range(0, n, size)] or []


@dataclass
class GivenLogits:
    """Blocks of caller-given logits ``[N, V]``; gradients are blocks of ``[N, V]``."""

    logits: Any

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.logits.shape[0]), int(self.logits.shape[1]))

    def block(self, xp: ModuleType, rows: tuple[int, int], cols: tuple[int, int]) -> Any:
        return self.logits[rows[0] : rows[1], cols[0] : cols[1]]


@dataclass
class LinearLogits:
    """Blocks of ``hidden @ weight.T + bias`` computed on demand.

    ``hidden``: ``[N, H]``; ``weight``: ``[V, H]``; ``bias``: ``[V]`` or None.
    """

    hidden: Any
    weight: Any
    bias: Any = None

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.hidden.shape[0]), int(self.weight.shape[0]))

    def block(self, xp: ModuleType, rows: tuple[int, int], cols: tuple[int, int]) -> Any:
        h = self.hidden[rows[0] : rows[1], :]
        w = self.weight[cols[0] : cols[1], :]
        z = xp.matmul(h, xp.matrix_transpose(w))
        if self.bias is not None:
            z = z + self.bias[cols[0] : cols[1]]
        return z


def _target_logit(xp: ModuleType, z: Any, local: Any) -> Any:
    """``z[i, local[i]]`` where ``0 <= local[i] < z.shape[1]``, else 0."""
    inside = (local >= 0) & (local < z.shape[1])
    if hasattr(xp, "take_along_axis"):
        safe = xp.where(inside, local, xp.zeros_like(local))
        picked = xp.take_along_axis(z, xp.expand_dims(safe, axis=1), axis=1)[:, 0]
    else:  # Dask: no take_along_axis; a comparison with arange, one block at a time
        columns = xp.arange(z.shape[1], dtype=local.dtype)
        hit = xp.expand_dims(columns, axis=0) == xp.expand_dims(local, axis=1)
        picked = xp.sum(xp.where(hit, z, xp.zeros_like(z)), axis=1)
    return xp.where(inside, picked, xp.zeros_like(picked))


def _shift(xp: ModuleType, m: Any) -> Any:
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


@dataclass
class _Rows:
    """Per-row quantities of one row block: target, keep mask, class weight of target."""

    local_target: Any  # target index, safe (0 where ignored)
    keep: Any  # bool: not ignored
    w_target: Any  # class weight of the target (1 without class weights)


def _row_block(
    xp: ModuleType,
    target: Any,
    class_weight: Any,
    ignore_index: int,
    rows: tuple[int, int],
    dtype: Any,
    n_classes: int,
) -> _Rows:
    y = target[rows[0] : rows[1]]
    keep = y != ignore_index
    # labels outside [0, V) raise on eager backends before the kernel; under JAX and
    # Dask they give a NaN loss (see invalid_rows)
    safe = xp.where(keep & (y >= 0) & (y < n_classes), y, xp.zeros_like(y))
    if class_weight is None:
        w_y = xp.ones(y.shape, dtype=dtype)
    else:
        w_y = xp.take(class_weight, safe, axis=0)
    return _Rows(safe, keep, w_y)


def _lse_block(xp: ModuleType, z: Any) -> Any:
    m = _shift(xp, xp.max(z, axis=1))
    return xp.log(xp.sum(xp.exp(z - xp.expand_dims(m, axis=1)), axis=1)) + m


def _block_grad(
    xp: ModuleType,
    z: Any,
    lse: Any,
    rows: _Rows,
    cot: Any,
    cols: tuple[int, int],
    class_weight: Any,
    smoothing: float,
    n_classes: int,
    w_sum: Any,
) -> Any:
    """d(sum_i cot_i l_i)/dz for one block of logits."""
    c = xp.where(rows.keep, cot, xp.zeros_like(cot))
    a = (1 - smoothing) * rows.w_target + (smoothing / n_classes) * w_sum
    p = xp.exp(z - xp.expand_dims(lse, axis=1))
    dz = xp.expand_dims(c * a, axis=1) * p
    local = rows.local_target - cols[0]
    columns = xp.arange(cols[1] - cols[0], dtype=local.dtype)
    hit = xp.expand_dims(columns, axis=0) == xp.expand_dims(local, axis=1)
    target_term = xp.expand_dims(c * (1 - smoothing) * rows.w_target, axis=1)
    dz = dz - xp.where(hit, target_term, xp.zeros_like(target_term))
    if smoothing:
        w_cols = (
            xp.ones((cols[1] - cols[0],), dtype=z.dtype)
            if class_weight is None
            else class_weight[cols[0] : cols[1]]
        )
        dz = dz - xp.expand_dims(c * (smoothing / n_classes), axis=1) * xp.expand_dims(
            w_cols, axis=0
        )
    return dz


@dataclass
class SweepOptions:
    ignore_index: int
    label_smoothing: float
    chunk_size: int
    vocab_chunk_size: int


def sweep(
    xp: ModuleType,
    source: GivenLogits | LinearLogits,
    target: Any,
    class_weight: Any,
    options: SweepOptions,
    dtype: Any,
    cot: Any = None,
    on_block_grad: Callable[[tuple[int, int], tuple[int, int], Any], None] | None = None,
) -> Any:
    """Per-row losses ``[N]``; with ``cot`` (``[N]``), also feed each block's gradient
    ``dz`` to ``on_block_grad(rows, cols, dz)``."""
    n_rows, n_classes = source.shape
    smoothing = options.label_smoothing
    w_sum: Any = n_classes if class_weight is None else xp.sum(class_weight)
    col_ranges = _ranges(n_classes, options.vocab_chunk_size) or [(0, 0)]
    losses = []
    for rows in _ranges(n_rows, options.chunk_size):
        info = _row_block(xp, target, class_weight, options.ignore_index, rows, dtype, n_classes)
        if len(col_ranges) == 1:
            z = source.block(xp, rows, col_ranges[0])
            lse = _lse_block(xp, z)
            z_target = _target_logit(xp, z, info.local_target)
            z_weighted = _weighted_sum(xp, z, class_weight, col_ranges[0]) if smoothing else None
            blocks = [z]
        else:
            lse, z_target, z_weighted = _streamed_stats(
                xp, source, rows, col_ranges, info, class_weight, smoothing
            )
            blocks = []
        loss = (1 - smoothing) * info.w_target * (lse - z_target)
        if smoothing:
            loss = loss + (smoothing / n_classes) * (w_sum * lse - z_weighted)
        loss = xp.where(info.keep, loss, xp.zeros_like(loss))
        y = target[rows[0] : rows[1]]
        invalid = info.keep & ((y < 0) | (y >= n_classes))
        losses.append(xp.where(invalid, xp.full_like(loss, math.nan), loss))
        if cot is not None and on_block_grad is not None:
            c = cot[rows[0] : rows[1]]
            for cols in col_ranges:
                z = blocks[0] if blocks else source.block(xp, rows, cols)
                dz = _block_grad(
                    xp, z, lse, info, c, cols, class_weight, smoothing, n_classes, w_sum
                )
                on_block_grad(rows, cols, dz)
    if not losses:
        return xp.zeros((0,), dtype=dtype)
    return xp.concat(losses, axis=0) if len(losses) > 1 else losses[0]


def _weighted_sum(xp: ModuleType, z: Any, class_weight: Any, cols: tuple[int, int]) -> Any:
    """``sum_c w_c z_c`` over the block's classes; 0 * (-inf) counts as 0."""
    if class_weight is None:
        w = xp.ones((z.shape[1],), dtype=z.dtype)
    else:
        w = class_weight[cols[0] : cols[1]]
    wz = xp.expand_dims(w, axis=0) * z
    wz = xp.where(xp.expand_dims(w, axis=0) == 0, xp.zeros_like(wz), wz)
    return xp.sum(wz, axis=1)


def _streamed_stats(
    xp: ModuleType,
    source: GivenLogits | LinearLogits,
    rows: tuple[int, int],
    col_ranges: list[tuple[int, int]],
    info: _Rows,
    class_weight: Any,
    smoothing: float,
) -> tuple[Any, Any, Any]:
    """Online log-sum-exp, target logit and weighted logit sum over vocabulary blocks."""
    m = None
    s = None
    z_target = None
    z_weighted = None
    for cols in col_ranges:
        z = source.block(xp, rows, cols)
        block_max = xp.max(z, axis=1)
        new_m = block_max if m is None else xp.maximum(m, block_max)
        shift = _shift(xp, new_m)
        block_sum = xp.sum(xp.exp(z - xp.expand_dims(shift, axis=1)), axis=1)
        s = block_sum if s is None else s * xp.exp(m - shift) + block_sum
        m = new_m
        picked = _target_logit(xp, z, info.local_target - cols[0])
        z_target = picked if z_target is None else z_target + picked
        if smoothing:
            part = _weighted_sum(xp, z, class_weight, cols)
            z_weighted = part if z_weighted is None else z_weighted + part
    return xp.log(s) + _shift(xp, m), z_target, z_weighted


class GradientBlocks:
    """Portable accumulation of block gradients (lists, summed and concatenated at the end).

    For :class:`LinearLogits`: ``hidden`` rows get ``dz @ weight[cols]``, ``weight`` rows
    get ``dz.T @ hidden[rows]`` and ``bias`` gets ``sum(dz, axis=0)``; for
    :class:`GivenLogits` the blocks themselves are the gradient of ``logits``.
    """

    def __init__(
        self, xp: ModuleType, source: GivenLogits | LinearLogits, wrt: tuple[str, ...]
    ) -> None:
        self.xp = xp
        self.source = source
        self.wrt = wrt
        self.row_parts: dict[tuple[int, int], Any] = {}
        self.col_parts: dict[tuple[int, int], Any] = {}
        self.bias_parts: dict[tuple[int, int], Any] = {}
        self.logit_rows: dict[tuple[int, int], list[Any]] = {}

    def add(self, rows: tuple[int, int], cols: tuple[int, int], dz: Any) -> None:
        xp = self.xp
        source = self.source
        if isinstance(source, GivenLogits):
            self.logit_rows.setdefault(rows, []).append(dz)
            return
        if "hidden" in self.wrt:
            part = xp.matmul(dz, source.weight[cols[0] : cols[1], :])
            self.row_parts[rows] = (
                part if rows not in self.row_parts else self.row_parts[rows] + part
            )
        if "weight" in self.wrt:
            part = xp.matmul(xp.matrix_transpose(dz), source.hidden[rows[0] : rows[1], :])
            self.col_parts[cols] = (
                part if cols not in self.col_parts else self.col_parts[cols] + part
            )
        if "bias" in self.wrt:
            part = xp.sum(dz, axis=0)
            self.bias_parts[cols] = (
                part if cols not in self.bias_parts else self.bias_parts[cols] + part
            )

    def result(self) -> tuple[Any, ...]:
        xp = self.xp
        source = self.source
        out = []
        for name in self.wrt:
            if name == "logits":
                assert isinstance(source, GivenLogits)
                blocks = [
                    xp.concat(parts, axis=1) if len(parts) > 1 else parts[0]
                    for parts in self.logit_rows.values()
                ]
                out.append(_concat(xp, blocks, 0, source.logits))
            elif name == "hidden":
                assert isinstance(source, LinearLogits)
                out.append(_concat(xp, list(self.row_parts.values()), 0, source.hidden))
            elif name == "weight":
                assert isinstance(source, LinearLogits)
                out.append(_concat(xp, list(self.col_parts.values()), 0, source.weight))
            elif name == "bias":
                assert isinstance(source, LinearLogits)
                out.append(_concat(xp, list(self.bias_parts.values()), 0, source.bias))
        return tuple(out)


def _concat(xp: ModuleType, parts: list[Any], axis: int, like: Any) -> Any:
    if not parts:
        return xp.zeros_like(like)
    return xp.concat(parts, axis=axis) if len(parts) > 1 else parts[0]

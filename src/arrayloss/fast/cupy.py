"""CuPy fast paths: one CUDA kernel per value and gradient.

* Element-wise losses of ``d = pred - target`` (``mse``, ``mae``, ``huber``,
  ``smooth_l1``): one grid-stride kernel reads ``pred`` and ``target`` once, writes the
  gradient once (the reduction's scale or the ``"none"`` cotangent folded in) and sums
  the loss per block in float64; the block sums are added by CuPy's (CUB) reduction. Per
  element the arithmetic is the generic kernel's, so the two agree to rounding.
* Class-index ``cross_entropy`` over the last axis: one block per row. The first pass
  keeps an online (running max, rescaled sum) pair per thread and merges them across the
  block; the second pass writes ``softmax * a - a * onehot`` (``a`` the row's cotangent,
  class weight and ``1/T``). The logits are read twice and the gradient written once,
  the two-pass floor. Rows whose maximum is not finite (``+-inf``) redo the sum shifted
  by 0, exactly as the generic kernel (``_math.safe_max``) does, and a NaN anywhere in a
  row makes the whole row NaN, as there.

``with overwrite_logits(): al.value_and_grad(al.cross_entropy)(logits, labels)`` writes
the gradient over ``logits`` (Liger-Kernel's trick): no gradient buffer is allocated and
the caller's logits are consumed. ``cross_entropy`` has no such argument, so the switch
is this context manager of the CuPy fast path (a context variable: per thread and task).

CuPy is imported only when a kernel first runs, so this module imports on a machine
without it; kernels are compiled once per dtype (the compile is cached by CuPy on disk).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from typing import Any

from . import register

__all__ = ["overwrite_logits"]

_OVERWRITE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "arrayloss_overwrite_logits", default=False
)


@contextlib.contextmanager
def overwrite_logits() -> Iterator[None]:
    """Inside the block, CuPy ``cross_entropy`` gradients are written over the logits."""
    token = _OVERWRITE.set(True)
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


_CTYPE = {"float32": "float", "float64": "double"}
# -inf and NaN from their bit patterns: NVRTC compiles without <cmath>'s macros
_SPECIAL = {
    "float32": ("__int_as_float(0xff800000)", "__int_as_float(0x7fffffff)"),
    "float64": (
        "__longlong_as_double(0xfff0000000000000LL)",
        "__longlong_as_double(0x7ff8000000000000LL)",
    ),
}

# Per element: given T d, the loss l and the unscaled gradient gr. The NaN guards keep
# sign(NaN) and clip(NaN) NaN, as NumPy (CUDA's fmin/fmax drop a NaN operand).
_ELEMENTWISE = {
    "mse": "l = d * d; gr = (T)2 * d;",
    "mae": "l = fabs(d); gr = d > 0 ? (T)1 : (d < 0 ? (T)-1 : (d == 0 ? (T)0 : d));",
    "huber": (
        "T z = fabs(d); l = z < a ? (T)0.5 * z * z : a * (z - (T)0.5 * a);"
        " gr = isnan(d) ? d : fmin(fmax(d, -a), a);"
    ),
}

_ELEMENTWISE_SOURCE = r"""
typedef TYPE T;
extern "C" __global__ void NAME(
    const T* __restrict__ p, const T* __restrict__ t, T* __restrict__ g,
    T* __restrict__ loss, const T* __restrict__ cot, double* __restrict__ partial,
    const long long n, const T scale, const T a, const int flags)
{
    // flags: 1 write the gradient, 2 per-element cotangent, 4 write the per-element loss
    double acc = 0.0;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T d = p[i] - t[i];
        T l, gr;
        BODY
        if (flags & 4) loss[i] = l; else acc += (double)l;
        if (flags & 1) g[i] = gr * ((flags & 2) ? cot[i] : scale);
    }
    __shared__ double warp_sums[32];
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_sums[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        acc = lane < ((blockDim.x + 31) >> 5) ? warp_sums[lane] : 0.0;
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) partial[blockIdx.x] = acc;
    }
}
"""


def _cupy() -> Any:
    import cupy

    return cupy


@functools.cache
def _elementwise_kernel(loss: str, dtype: str) -> Any:
    name = f"arrayloss_{loss}_{dtype}"
    source = (
        _ELEMENTWISE_SOURCE.replace("TYPE", _CTYPE[dtype])
        .replace("NAME", name)
        .replace("BODY", _ELEMENTWISE[loss])
    )
    return _cupy().RawKernel(source, name)


@functools.cache
def _sm_count() -> int:
    cupy = _cupy()
    return int(cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["multiProcessorCount"])


def _plain(cupy: Any, *arrays: Any) -> bool:
    first = arrays[0]
    return (
        all(
            type(a) is cupy.ndarray and a.dtype == first.dtype and a.flags.c_contiguous
            for a in arrays
        )
        and str(first.dtype) in _CTYPE
    )


def _scalar_scale(cotangent: Any, denominator: float) -> float | None:
    if cotangent is None:
        return 1.0 / denominator
    if isinstance(cotangent, (int, float)) and not isinstance(cotangent, bool):
        return float(cotangent) / denominator
    if getattr(cotangent, "shape", None) == () and hasattr(cotangent, "dtype"):
        return float(cotangent) / denominator
    return None


def _elementwise(
    problem: Any,
    wrt: tuple[str, ...],
    cotangent: Any,
    loss: str,
    *,
    a: float = 0.0,
    divide: float = 1.0,
) -> Any:
    """One kernel for a loss of ``d = pred - target`` (gradient and value divided by ``divide``)."""
    cupy = _cupy()
    if problem.weight is not None or problem.where is not None:
        return NotImplemented
    pred, target = problem.arrays[0], problem.arrays[1]
    if (
        not _plain(cupy, pred, target)
        or pred.shape != target.shape
        or pred.size == 0
        or any(name not in ("pred", "target") for name in wrt)
    ):
        return NotImplemented
    n = pred.size
    dtype = pred.dtype
    reduction = problem.reduction
    flags = 1 if wrt else 0
    cot = pred  # a placeholder where no per-element cotangent is read
    scale = 1.0
    if reduction == "none":
        flags |= 4
        if cotangent is not None:
            scalar = _scalar_scale(cotangent, 1.0)
            if scalar is not None:
                scale = scalar
            elif (
                getattr(cotangent, "shape", None) == pred.shape and type(cotangent) is cupy.ndarray
            ):
                cot = cupy.ascontiguousarray(cotangent, dtype=dtype)
                flags |= 2
            else:
                return NotImplemented
    elif reduction in ("sum", "mean"):
        found = _scalar_scale(cotangent, float(n) if reduction == "mean" else 1.0)
        if found is None:
            return NotImplemented
        scale = found
    else:
        return NotImplemented
    scale /= divide
    threads = 256
    blocks = max(1, min(-(-n // threads), 32 * _sm_count()))
    grad = cupy.empty_like(pred) if wrt else pred
    out = cupy.empty_like(pred) if reduction == "none" else pred
    partial = cupy.empty(blocks, dtype=cupy.float64)
    np_dtype = cupy.dtype(dtype).type
    _elementwise_kernel(loss, str(dtype))(
        (blocks,),
        (threads,),
        (pred, target, grad, out, cot, partial, cupy.int64(n), np_dtype(scale), np_dtype(a),
         cupy.int32(flags)),
    )  # fmt: skip
    if reduction == "none":
        value = out if divide == 1.0 else out / divide
    else:
        total = cupy.sum(partial) / divide
        if reduction == "mean":
            total = total / n
        value = total.astype(dtype)
    grads = tuple(grad if name == "pred" else cupy.negative(grad) for name in wrt)
    return value, grads


@register("mse", "cupy")
def mse(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return _elementwise(problem, wrt, cotangent, "mse")


@register("mae", "cupy")
def mae(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return _elementwise(problem, wrt, cotangent, "mae")


@register("huber", "cupy")
def huber(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return _elementwise(problem, wrt, cotangent, "huber", a=float(problem.options["delta"]))


@register("smooth_l1", "cupy")
def smooth_l1(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    beta = float(problem.options["beta"])
    if beta == 0:
        return _elementwise(problem, wrt, cotangent, "mae")
    # smooth_l1(beta) = huber(delta=beta) / beta, and so is its gradient
    return _elementwise(problem, wrt, cotangent, "huber", a=beta, divide=beta)


# ------------------------------------------------------------- cross-entropy

_CE_SOURCE = r"""
typedef TYPE T;
typedef TYPE ACC;
#define NEG_INF (NEG_INF_VALUE)

__device__ __forceinline__ void merge(ACC& m, ACC& s, const ACC m2, const ACC s2) {
    // (m, s) <- the pair of the union; s is a sum of exp(v - m) over values v != -inf
    if (m2 > m) { s = (m == NEG_INF ? (ACC)0 : s * exp(m - m2)) + s2; m = m2; }
    else if (m2 != NEG_INF) { s += s2 * exp(m2 - m); }
}

__device__ ACC block_sum(ACC v, ACC* shared) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < ((blockDim.x + 31) >> 5) ? shared[lane] : (ACC)0;
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    return shared[0];
}

extern "C" __global__ void NAME(
    const T* x_all, const long long* __restrict__ labels, T* g_all, T* __restrict__ loss_rows,
    const T* __restrict__ cot_rows, const T* __restrict__ class_weight,
    const long long C, const long long ignore_index, const int flags, const T scale,
    const ACC temp, const ACC inv_t)
{
    // flags: 1 write the gradient, 2 per-row cotangent, 4 class weights, 8 ignore_index
    // (x_all and g_all may be the same buffer: each element is read before it is written)
    __shared__ ACC sh_m[32], sh_s[32];
    __shared__ int sh_nan[32];
    __shared__ ACC sh_x_y;
    const long long row = blockIdx.x;
    const T* x = x_all + row * C;
    T* g = g_all + row * C;
    const long long y_raw = labels[row];
    const bool used = !((flags & 8) && y_raw == ignore_index);
    const long long y = used ? y_raw : 0;
    // logits / T as the kernel divides (a product by 1/T may differ in the last bit)
    if (threadIdx.x == 0) sh_x_y = (ACC)x[y] / temp;

    ACC m = NEG_INF, s = 0;
    int nan = 0;
    for (long long i = threadIdx.x; i < C; i += blockDim.x) {
        const ACC v = (ACC)x[i] / temp;
        if (isnan(v)) nan = 1;
        else if (v > m) { s = (m == NEG_INF ? (ACC)0 : s * exp(m - v)) + (ACC)1; m = v; }
        else if (v != NEG_INF) s += exp(v - m);
    }
    for (int off = 16; off > 0; off >>= 1) {
        const ACC m2 = __shfl_down_sync(0xffffffffu, m, off);
        const ACC s2 = __shfl_down_sync(0xffffffffu, s, off);
        nan |= __shfl_down_sync(0xffffffffu, nan, off);
        merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { sh_m[warp] = m; sh_s[warp] = s; sh_nan[warp] = nan; }
    __syncthreads();
    if (warp == 0) {
        const int warps = (blockDim.x + 31) >> 5;
        m = lane < warps ? sh_m[lane] : NEG_INF;
        s = lane < warps ? sh_s[lane] : (ACC)0;
        nan = lane < warps ? sh_nan[lane] : 0;
        for (int off = 16; off > 0; off >>= 1) {
            const ACC m2 = __shfl_down_sync(0xffffffffu, m, off);
            const ACC s2 = __shfl_down_sync(0xffffffffu, s, off);
            nan |= __shfl_down_sync(0xffffffffu, nan, off);
            merge(m, s, m2, s2);
        }
        if (lane == 0) { sh_m[0] = m; sh_s[0] = s; sh_nan[0] = nan; }
    }
    __syncthreads();
    m = sh_m[0];
    s = sh_s[0];
    nan = sh_nan[0];
    if (!isfinite(m)) {
        // as safe_max: a non-finite maximum shifts by 0 (rare: +-inf in the row)
        m = 0;
        ACC part = 0;
        for (long long i = threadIdx.x; i < C; i += blockDim.x) part += exp((ACC)x[i] / temp);
        s = block_sum(part, sh_s);
    }
    if (nan) s = NAN_VALUE;

    const ACC w_y = (flags & 4) ? (ACC)class_weight[y] : (ACC)1;
    if (threadIdx.x == 0) {
        const ACC nll = log(s) + m - sh_x_y;
        loss_rows[row] = used ? (T)(w_y * nll) : (T)0;
    }
    if (!(flags & 1)) return;
    const ACC cot = (flags & 2) ? (ACC)cot_rows[row] : (ACC)scale;
    const ACC a = used ? cot * inv_t * w_y : (ACC)0;
    const ACC coef = a / s;
    __syncthreads();  // x[y] was read by thread 0 before anything is written
    for (long long i = threadIdx.x; i < C; i += blockDim.x) {
        ACC v = exp((ACC)x[i] / temp - m) * coef;
        if (i == y) v -= a;
        g[i] = (T)v;
    }
}
"""


@functools.cache
def _ce_kernel(dtype: str) -> Any:
    name = f"arrayloss_cross_entropy_{dtype}"
    neg_inf, nan = _SPECIAL[dtype]
    source = (
        _CE_SOURCE.replace("TYPE", _CTYPE[dtype])
        .replace("NAME", name)
        .replace("NEG_INF_VALUE", neg_inf)
        .replace("NAN_VALUE", nan)
    )
    return _cupy().RawKernel(source, name)


@register("cross_entropy", "cupy")
def cross_entropy(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    cupy = _cupy()
    options = problem.options
    if (
        not options.get("sparse")
        or options.get("label_smoothing", 0.0) != 0.0
        or problem.where is not None
        or problem.weight is not None
        or wrt not in ((), ("logits",))
    ):
        return NotImplemented
    logits, target = problem.arrays
    if (
        not _plain(cupy, logits)
        or logits.ndim < 1
        or options["axis"] != logits.ndim - 1
        or logits.size == 0
        or type(target) is not cupy.ndarray
        or target.dtype.kind not in "iu"
    ):
        return NotImplemented
    dtype = logits.dtype
    n_classes = logits.shape[-1]
    rows = logits.size // n_classes
    flags = 1 if wrt else 0
    class_weight = options.get("class_weight")
    if class_weight is not None:
        if type(class_weight) is not cupy.ndarray or class_weight.dtype != dtype:
            return NotImplemented
        flags |= 4
    ignore_index = options.get("ignore_index")
    if ignore_index is not None:
        flags |= 8
    reduction = problem.reduction
    cot_rows = logits  # a placeholder where no per-row cotangent is read
    scale = 1.0
    denominator = 1.0
    if reduction == "none":
        if cotangent is not None:
            scalar = _scalar_scale(cotangent, 1.0)
            if scalar is not None:
                scale = scalar
            elif (
                getattr(cotangent, "shape", None) == target.shape
                and type(cotangent) is cupy.ndarray
            ):
                cot_rows = cupy.ascontiguousarray(cotangent, dtype=dtype).reshape(-1)
                flags |= 2
            else:
                return NotImplemented
    elif reduction in ("sum", "mean"):
        if reduction == "mean":
            denominator = float(problem.denominator)
        found = _scalar_scale(cotangent, denominator if denominator != 0 else 1.0)
        if found is None:
            return NotImplemented
        scale = found
    else:
        return NotImplemented
    labels = cupy.ascontiguousarray(target.reshape(-1), dtype=cupy.int64)
    overwrite = _OVERWRITE.get() and bool(wrt)
    grad = logits if overwrite else (cupy.empty_like(logits) if wrt else logits)
    loss_rows = cupy.empty(rows, dtype=dtype)
    threads = 1024 if n_classes >= 4096 else max(32, 1 << (max(1, n_classes) - 1).bit_length())
    np_dtype = cupy.dtype(dtype).type
    temperature = float(options.get("temperature", 1.0))
    _ce_kernel(str(dtype))(
        (rows,),
        (min(threads, 1024),),
        (logits, labels, grad, loss_rows, cot_rows,
         class_weight if class_weight is not None else logits,
         cupy.int64(n_classes), cupy.int64(0 if ignore_index is None else ignore_index),
         cupy.int32(flags), np_dtype(scale), np_dtype(temperature), np_dtype(1.0 / temperature)),
    )  # fmt: skip
    if reduction == "none":
        value = loss_rows.reshape(target.shape)
    else:
        value = cupy.sum(loss_rows)
        if reduction == "mean":
            value = value / denominator if denominator != 0 else cupy.full((), cupy.nan, dtype)
        value = value.astype(dtype)
    return value, ((grad.reshape(logits.shape),) if wrt else ())

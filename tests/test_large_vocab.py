"""Large-vocabulary cross-entropy: chunked_cross_entropy and linear_cross_entropy equal
PyTorch's cross_entropy of the materialised logits, values and every gradient, for every
option and odd chunk sizes, on every backend."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import arrayloss as al

from _helpers import assert_close, from_torch, numeric_grad, torch64, torch_or_skip

N, H, V = 7, 5, 11
RNG = np.random.default_rng(2024)
HIDDEN = RNG.normal(size=(N, H))
WEIGHT = RNG.normal(size=(V, H))
BIAS = RNG.normal(size=V)
TARGET = RNG.integers(0, V, N)
TARGET[[2, 5]] = -100
CLASS_WEIGHT = RNG.uniform(0.2, 2.0, V)
WHERE = np.array([True, True, False, True, True, True, False])


def _torch_reference(reduction, class_weight, smoothing, bias, where=None):
    torch = torch_or_skip()
    F = torch.nn.functional
    h = torch64(HIDDEN, requires_grad=True)
    w = torch64(WEIGHT, requires_grad=True)
    b = torch64(BIAS, requires_grad=True) if bias else None
    logits = h @ w.T + (b if b is not None else 0)
    logits.retain_grad()
    kw = {
        "weight": None if class_weight is None else torch64(class_weight),
        "label_smoothing": smoothing,
    }
    if where is None:
        out = F.cross_entropy(logits, torch64(TARGET), reduction=reduction, **kw)
    else:
        rows = torch64(where)
        per_row = F.cross_entropy(logits, torch64(TARGET), reduction="none", **kw)
        kept = torch.where(rows, per_row, torch.zeros_like(per_row))
        if reduction == "none":
            out = kept
        elif reduction == "sum":
            out = kept.sum()
        else:
            keep = rows & (torch64(TARGET) != -100)
            cw = (
                torch.ones(V, dtype=torch.float64)
                if class_weight is None
                else torch64(class_weight)
            )
            out = (
                kept.sum()
                / torch.where(
                    keep, cw[torch64(TARGET).clamp(min=0)], torch.zeros(N, dtype=torch.float64)
                ).sum()
            )
    out.backward(torch.ones_like(out))
    grads = (from_torch(h.grad), from_torch(w.grad), from_torch(b.grad) if b is not None else None)
    return from_torch(out), grads, from_torch(logits.grad), from_torch(logits)


OPTIONS = list(
    itertools.product(
        ("mean", "sum", "none"),
        (None, CLASS_WEIGHT),
        (0.0, 0.3),
        ((1, None), (3, 4), (5, 1), (100, 100)),
    )
)


def _id(case):
    reduction, cw, smoothing, (rows, cols) = case
    return f"{reduction}-{'cw' if cw is not None else 'nocw'}-ls{smoothing}-r{rows}-v{cols}"


@pytest.mark.parametrize("case", OPTIONS, ids=[_id(c) for c in OPTIONS])
@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "generic"])
def test_linear_cross_entropy_equals_torch_on_numpy(case, fast_paths, monkeypatch):
    if not fast_paths:
        monkeypatch.setenv("ARRAYLOSS_DISABLE_FASTPATHS", "1")
    reduction, cw, smoothing, (rows, cols) = case
    value, grads, _, _ = _torch_reference(reduction, cw, smoothing, bias=True)
    got, got_grads = al.value_and_grad(al.linear_cross_entropy, wrt=("hidden", "weight", "bias"))(
        HIDDEN,
        WEIGHT,
        TARGET,
        bias=BIAS,
        class_weight=cw,
        label_smoothing=smoothing,
        reduction=reduction,
        chunk_size=rows,
        vocab_chunk_size=cols,
    )
    assert_close(got, value)
    assert_close(got_grads, grads, atol=1e-14)


@pytest.mark.parametrize("case", OPTIONS, ids=[_id(c) for c in OPTIONS])
def test_chunked_cross_entropy_equals_torch_on_numpy(case):
    reduction, cw, smoothing, (rows, cols) = case
    value, _, logits_grad, logits = _torch_reference(reduction, cw, smoothing, bias=True)
    got, grad = al.value_and_grad(al.chunked_cross_entropy)(
        logits,
        TARGET,
        class_weight=cw,
        label_smoothing=smoothing,
        reduction=reduction,
        chunk_size=rows,
        vocab_chunk_size=cols,
    )
    assert_close(got, value)
    assert_close(grad, logits_grad, atol=1e-15)


BACKEND_CASES = [
    ("mean", CLASS_WEIGHT, 0.2, (3, None)),
    ("none", None, 0.0, (2, 4)),
    ("sum", CLASS_WEIGHT, 0.0, (None, None)),
]


@pytest.mark.parametrize("case", BACKEND_CASES, ids=[_id(c) for c in BACKEND_CASES])
def test_every_backend_gives_torchs_values_and_gradients(backend, case):
    reduction, cw, smoothing, (rows, cols) = case
    value, grads, logits_grad, logits = _torch_reference(
        reduction, cw, smoothing, bias=True, where=WHERE
    )
    kw = {
        "class_weight": backend.asarray(cw),
        "label_smoothing": smoothing,
        "reduction": reduction,
        "chunk_size": rows,
        "vocab_chunk_size": cols,
        "where": backend.asarray(WHERE),
    }
    got, got_grads = backend.call(
        al.value_and_grad(al.linear_cross_entropy, wrt=("hidden", "weight", "bias")),
        backend.asarray(HIDDEN),
        backend.asarray(WEIGHT),
        backend.asarray(TARGET),
        bias=backend.asarray(BIAS),
        **kw,
    )
    assert_close(backend.to_numpy(got), value)
    assert_close(backend.to_numpy(got_grads), grads, atol=1e-14)
    plain = backend.call(
        al.linear_cross_entropy,
        backend.asarray(HIDDEN),
        backend.asarray(WEIGHT),
        backend.asarray(TARGET),
        bias=backend.asarray(BIAS),
        **kw,
    )
    assert_close(backend.to_numpy(plain), value)
    got, grad = backend.call(
        al.value_and_grad(al.chunked_cross_entropy),
        backend.asarray(logits),
        backend.asarray(TARGET),
        **kw,
    )
    assert_close(backend.to_numpy(got), value)
    assert_close(backend.to_numpy(grad), logits_grad, atol=1e-15)


def test_jax_grad_uses_the_scanned_custom_vjp():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    value, grads, _, _ = _torch_reference("mean", CLASS_WEIGHT, 0.1, bias=True)

    def loss(h, w, b):
        return al.linear_cross_entropy(
            h,
            w,
            jnp.asarray(TARGET),
            bias=b,
            class_weight=jnp.asarray(CLASS_WEIGHT),
            label_smoothing=0.1,
            chunk_size=3,
        )

    args = (jnp.asarray(HIDDEN), jnp.asarray(WEIGHT), jnp.asarray(BIAS))
    got_value, got_grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(*args)
    assert_close(np.asarray(got_value), value)
    assert_close(tuple(np.asarray(g) for g in got_grads), grads, atol=1e-14)
    assert "custom_vjp_call" in str(jax.make_jaxpr(loss)(*args))
    grad_jaxpr = str(jax.make_jaxpr(jax.grad(loss, argnums=(0, 1, 2)))(*args))
    assert "scan" in grad_jaxpr
    # the residuals are per-row: no [N, V] array crosses from the forward to the backward
    assert "f64[7,11]" not in grad_jaxpr.split("scan")[0]


def test_torch_backward_gives_torchs_gradients():
    torch = torch_or_skip()
    value, grads, _, _ = _torch_reference("mean", None, 0.0, bias=False)
    h = torch64(HIDDEN, requires_grad=True)
    w = torch64(WEIGHT, requires_grad=True)
    out = al.linear_cross_entropy(h, w, torch64(TARGET), chunk_size=2)
    out.backward()
    assert_close(from_torch(out), value)
    assert_close(from_torch(h.grad), grads[0])
    assert_close(from_torch(w.grad), grads[1])
    assert isinstance(out, torch.Tensor)


def test_all_targets_ignored_give_nan_mean_zero_sum_and_zero_gradients(backend):
    target = backend.asarray(np.full(N, -100))
    args = (backend.asarray(HIDDEN), backend.asarray(WEIGHT), target)
    value, grads = backend.call(
        al.value_and_grad(al.linear_cross_entropy, wrt=("hidden", "weight")), *args
    )
    assert np.isnan(backend.to_numpy(value))
    assert_close(backend.to_numpy(grads), (np.zeros((N, H)), np.zeros((V, H))))
    assert_close(
        backend.to_numpy(backend.call(al.linear_cross_entropy, *args, reduction="sum")), 0.0
    )


def test_empty_batch(backend):
    args = (
        backend.asarray(np.zeros((0, H))),
        backend.asarray(WEIGHT),
        backend.asarray(np.zeros(0, dtype=np.int64)),
    )
    value, grads = backend.call(
        al.value_and_grad(al.linear_cross_entropy, wrt=("hidden", "weight")), *args
    )
    assert np.isnan(backend.to_numpy(value))
    assert backend.to_numpy(grads[0]).shape == (0, H)
    assert_close(backend.to_numpy(grads[1]), np.zeros((V, H)))


def test_label_out_of_range_is_a_valueerror_on_eager_backends_and_nan_on_lazy(backend):
    target = TARGET.copy()
    target[0] = V
    args = (backend.asarray(HIDDEN), backend.asarray(WEIGHT), backend.asarray(target))
    if backend.lazy:
        assert np.isnan(backend.to_numpy(backend.call(al.linear_cross_entropy, *args)))
        return
    with pytest.raises(ValueError, match=r"target has a class index 11 outside \[0, 11\)"):
        backend.call(al.linear_cross_entropy, *args)


def test_gradients_match_central_differences():
    def scalar(h, w, b):
        return float(
            al.linear_cross_entropy(
                h, w, TARGET, bias=b, class_weight=CLASS_WEIGHT, label_smoothing=0.25, chunk_size=2
            )
        )

    grads = al.grad(al.linear_cross_entropy, wrt=("hidden", "weight", "bias"))(
        HIDDEN,
        WEIGHT,
        TARGET,
        bias=BIAS,
        class_weight=CLASS_WEIGHT,
        label_smoothing=0.25,
        chunk_size=2,
    )
    for index, g in enumerate(grads):
        assert_close(g, numeric_grad(scalar, [HIDDEN, WEIGHT, BIAS], index), rtol=1e-6, atol=1e-9)


def test_overwrite_logits_reuses_the_buffer_and_gives_the_same_gradient():
    logits = HIDDEN @ WEIGHT.T
    expected_value, expected = al.value_and_grad(al.chunked_cross_entropy)(
        logits, TARGET, chunk_size=3
    )
    scratch = logits.copy()
    value, grad = al.value_and_grad(al.chunked_cross_entropy)(
        scratch, TARGET, chunk_size=3, overwrite_logits=True
    )
    assert_close(value, expected_value)
    assert_close(grad, expected)
    assert np.shares_memory(grad, scratch)


def test_readonly_logits_are_never_overwritten():
    logits = HIDDEN @ WEIGHT.T
    logits.flags.writeable = False
    _, grad = al.value_and_grad(al.chunked_cross_entropy)(logits, TARGET, overwrite_logits=True)
    assert not np.shares_memory(grad, logits)


def test_float32_stays_float32(backend):
    args = (
        backend.asarray(HIDDEN, "float32"),
        backend.asarray(WEIGHT, "float32"),
        backend.asarray(TARGET),
    )
    value, grads = backend.call(
        al.value_and_grad(al.linear_cross_entropy, wrt=("hidden", "weight")), *args
    )
    assert backend.to_numpy(value).dtype == np.float32
    assert backend.to_numpy(grads[0]).dtype == np.float32
    expected = al.linear_cross_entropy(HIDDEN, WEIGHT, TARGET)
    assert_close(backend.to_numpy(value).astype(np.float64), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"target": TARGET[:3]}, ValueError, r"target has shape \(3,\) but hidden has 7 rows"),
        (
            {"target": TARGET.astype(float)},
            TypeError,
            "target holds class indices and must be an integer array",
        ),
        (
            {"class_weight": np.ones(3)},
            ValueError,
            r"class_weight has shape \(3,\); it must have shape \(11,\)",
        ),
        ({"bias": np.ones(3)}, ValueError, r"bias has shape \(3,\); it must have shape \(11,\)"),
        ({"weight": np.ones((V, H + 1))}, ValueError, "their last axes .* must be equal"),
        ({"label_smoothing": 1.5}, ValueError, r"label_smoothing=1\.5 is out of range"),
        ({"chunk_size": 0}, ValueError, r"chunk_size=0 is out of range"),
    ],
)
def test_bad_arguments_raise_with_a_clear_message(kwargs, error, message):
    args = {"hidden": HIDDEN, "weight": WEIGHT, "target": TARGET}
    options = {k: v for k, v in kwargs.items() if k not in args}
    args.update({k: v for k, v in kwargs.items() if k in args})
    with pytest.raises(error, match=message):
        al.linear_cross_entropy(args["hidden"], args["weight"], args["target"], **options)

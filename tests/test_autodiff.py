"""The gradient tables inside JAX and PyTorch autodiff, for every registered loss.

Every loss in ``al.registry()`` is run on the inputs of its conformance factory
(``arrayloss/conformance/inputs.py``; a loss without one fails here) and checked:
``jax.grad`` (eager and jitted) and ``.backward()`` go through the table (the jaxpr holds
the ``custom_vjp``, the ``grad_fn`` is the table's Function) and agree with ``al.grad``
on NumPy and with autodiff of the PyTorch/optax reference loss to 1e-10 in float64;
``torch.autograd.gradcheck`` passes; ``jax.vjp`` takes a cotangent; ``jax.vmap`` equals a
loop; grad-of-grad differentiates the table as autodiff of the kernel would; float16
and bfloat16 gradients come back in the input dtype.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from arrayloss import _autodiff_jax, _engine
from arrayloss._spec import get_spec, public_functions
from arrayloss.conformance.inputs import Case, cases_for
from arrayloss.conformance.references import REFERENCES

from _helpers import RTOL32, RTOL64, assert_close

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")
F = torch.nn.functional

jax.config.update("jax_enable_x64", True)

#: Every loss by its spec name (aliases share the spec and are not repeated).
NAMES = sorted({record.name for record in al.registry().values()})
TORCH_NAMES = [n for n in NAMES if "torch" in get_spec(n).backends]
SECOND_ORDER = [n for n in NAMES if get_spec(n).second_order]
FIRST_ORDER_ONLY = [n for n in NAMES if not get_spec(n).second_order]
ATOL = 1e-12


def _cases(name: str) -> list[Case]:
    cases = cases_for(name)
    if not cases:
        pytest.fail(
            f"{name} has no inputs: add a factory for it to arrayloss/conformance/inputs.py "
            "(the autodiff and conformance tests run every registered loss on them)"
        )
    return cases


def _cases_with_gradients(spec: Any, name: str, limit: int = 2) -> list[Case]:
    """The first ``limit`` cases that differentiate something (the conformance suite
    runs every case against the references; here each autodiff route runs a few)."""
    return [c for c in _cases(name) if _float_positions(spec, c)][:limit]


def _first_case(spec: Any, name: str) -> Case:
    return _cases_with_gradients(spec, name, 1)[0]


def _loss(name: str) -> tuple[Any, Callable[..., Any]]:
    return get_spec(name), public_functions()[name]


def _float_positions(spec: Any, case: Case) -> list[int]:
    """Positions of the differentiable arguments the case passes as float arrays."""
    return [
        i
        for i, a in enumerate(case.args)
        if i < len(spec.args)
        and spec.args[i] in spec.wrt
        and isinstance(a, np.ndarray)
        and a.dtype.kind == "f"
    ]


def _to_jax(x: Any, dtype: Any = None) -> Any:
    if not isinstance(x, np.ndarray):
        return x
    if dtype is not None and x.dtype.kind == "f":
        return jnp.asarray(x.astype(np.float32)).astype(dtype)
    return jnp.asarray(x)


def _to_torch(x: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    if not isinstance(x, np.ndarray):
        return x
    t = torch.from_numpy(np.array(x))
    if t.is_floating_point():
        t = t.to(dtype or torch.float64)
        t.requires_grad_(requires_grad)
    return t


def _jax_call(
    fn: Callable[..., Any],
    case: Case,
    positions: Sequence[int],
    options: dict[str, Any] | None = None,
    dtype: Any = None,
) -> tuple[Callable[..., Any], list[Any]]:
    """``f(*diff) -> sum of the loss`` on JAX arrays, and the differentiated arrays."""
    args = [_to_jax(a, dtype) for a in case.args]
    opts = {k: _to_jax(v, dtype) for k, v in (case.options if options is None else options).items()}

    def f(*diff: Any) -> Any:
        full = list(args)
        for i, d in zip(positions, diff, strict=True):
            full[i] = d
        return jnp.sum(fn(*full, **opts))

    return f, [args[i] for i in positions]


def _table(
    fn: Callable[..., Any], case: Case, positions: Sequence[int], **extra: Any
) -> tuple[Any, tuple[Any, ...]]:
    """Value (summed) and gradients from the table on NumPy float64."""
    value, grads = al.value_and_grad(fn, wrt=tuple(positions))(*case.args, **case.options, **extra)
    return np.sum(value), grads


def _reference(name: str, spec: Any, case: Case) -> tuple[Any, dict[str, Any]] | None:
    ref = REFERENCES.get(name)
    if ref is None:
        return None
    return ref.run(case, spec.args, spec.wrt)


def _check_reference(
    name: str, spec: Any, case: Case, positions: Sequence[int], value: Any, grads: Sequence[Any]
) -> None:
    result = _reference(name, spec, case)
    if result is None or "reduction" in case.options:
        return
    ref_value, ref_grads = result
    assert_close(
        np.asarray(value),
        np.sum(ref_value),
        rtol=RTOL64,
        atol=ATOL,
        err_msg=f"{name} value vs reference",
    )
    for i, g in zip(positions, grads, strict=True):
        arg = spec.args[i]
        if arg in ref_grads:
            assert_close(
                np.asarray(g),
                ref_grads[arg],
                rtol=RTOL64,
                atol=ATOL,
                err_msg=f"{name} d/d{arg} vs reference",
            )


# ------------------------------------------------------------------ coverage


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_loss_has_autodiff_inputs(name):
    assert _cases(name)
    spec = get_spec(name)
    assert any(_float_positions(spec, case) for case in _cases(name)), (
        f"no case of {name} passes a differentiable argument as a float array"
    )


# ----------------------------------------------------------------------- JAX


@pytest.mark.parametrize("name", NAMES)
def test_jax_grad_runs_through_the_custom_vjp_and_the_table(name):
    spec, fn = _loss(name)
    case = _first_case(spec, name)
    positions = _float_positions(spec, case)
    f, diff = _jax_call(fn, case, positions)
    assert "custom_vjp_call" in str(jax.make_jaxpr(f)(*diff))
    if spec.jax_value is None:  # the generic wiring; a loss with its own names its own
        grad_jaxpr = str(jax.make_jaxpr(jax.grad(f, argnums=tuple(range(len(diff)))))(*diff))
        assert f"{spec.name}_gradient_table" in grad_jaxpr


@pytest.mark.parametrize("name", NAMES)
def test_eager_jax_value_and_grad_equal_the_table_and_the_reference(name):
    spec, fn = _loss(name)
    case = _first_case(spec, name)
    positions = _float_positions(spec, case)
    f, diff = _jax_call(fn, case, positions)
    value, grads = jax.value_and_grad(f, argnums=tuple(range(len(diff))))(*diff)
    table_value, table_grads = _table(fn, case, positions)
    assert_close(np.asarray(value), table_value, rtol=RTOL64, atol=ATOL)
    assert_close(tuple(np.asarray(g) for g in grads), table_grads, rtol=RTOL64, atol=ATOL)
    _check_reference(name, spec, case, positions, value, grads)


@pytest.mark.parametrize("name", NAMES)
def test_jitted_vmapped_value_and_grad_equal_a_loop_over_the_table(name):
    spec, fn = _loss(name)
    for case in _cases_with_gradients(spec, name):
        batched = [i for i, a in enumerate(case.args) if isinstance(a, np.ndarray) and a.ndim >= 1]
        positions = [i for i in _float_positions(spec, case) if i in batched]
        # Example k rolls every array k places along its first axis: valid inputs, paired
        # anew; example 0 is the case itself.
        examples = [
            [np.roll(a, k, axis=0) if i in batched else a for i, a in enumerate(case.args)]
            for k in range(3)
        ]
        stacks = [jnp.asarray(np.stack([ex[i] for ex in examples])) for i in batched]
        f, _ = _jax_call(fn, case, batched)
        argnums = tuple(batched.index(i) for i in positions)
        values, grads = jax.jit(jax.vmap(jax.value_and_grad(f, argnums=argnums)))(*stacks)
        for k, example in enumerate(examples):
            table_value, table_grads = _table(
                fn, dataclasses.replace(case, args=tuple(example)), positions
            )
            label = f"{name} [{case.label}] example {k}"
            assert_close(np.asarray(values[k]), table_value, rtol=RTOL64, atol=ATOL, err_msg=label)
            got = tuple(np.asarray(g[k]) for g in grads)
            assert_close(got, table_grads, rtol=RTOL64, atol=ATOL, err_msg=label)
        _check_reference(name, spec, case, positions, values[0], [g[0] for g in grads])


@pytest.mark.parametrize("name", NAMES)
def test_jax_vjp_of_the_unreduced_loss_takes_a_cotangent(name):
    spec, fn = _loss(name)
    if "none" not in spec.reductions:
        pytest.skip(f"{name} has no reduction='none'")
    case = _first_case(spec, name)
    positions = _float_positions(spec, case)
    options = {**case.options, "reduction": "none"}
    args = [_to_jax(a) for a in case.args]
    opts = {k: _to_jax(v) for k, v in options.items()}
    out_shape = np.shape(fn(*case.args, **options))
    cot = np.random.default_rng(0).uniform(0.5, 1.5, out_shape)

    def pull(diff: list[Any], cot: Any) -> Any:
        def f(*diff: Any) -> Any:
            full = list(args)
            for i, d in zip(positions, diff, strict=True):
                full[i] = d
            return fn(*full, **opts)

        return jax.vjp(f, *diff)[1](cot)

    grads = jax.jit(pull)([args[i] for i in positions], jnp.asarray(cot))
    _, expected = al.value_and_grad(fn, wrt=tuple(positions))(*case.args, **options, cotangent=cot)
    assert_close(tuple(np.asarray(g) for g in grads), expected, rtol=RTOL64, atol=ATOL)


def _kernel_autodiff(fn: Callable[..., Any], case: Case, position: int) -> Callable[..., Any]:
    """The loss by plain JAX autodiff of the kernel (no custom_vjp), of one argument."""
    prepare = fn.__arrayloss_prepare__
    args = [_to_jax(a) for a in case.args]
    opts = {k: _to_jax(v) for k, v in case.options.items()}

    def f(x: Any) -> Any:
        full = list(args)
        full[position] = x
        return jnp.sum(_engine.plain_value(prepare(*full, **opts)))

    return f


def _hvp(f: Callable[..., Any], x: Any, v: Any) -> Any:
    return jax.jit(jax.grad(lambda y: jnp.vdot(jax.grad(f)(y), v)))(x)


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_jax_grad_of_grad_differentiates_the_table_like_the_kernel(name, monkeypatch):
    spec, fn = _loss(name)
    case = _first_case(spec, name)
    position = _float_positions(spec, case)[0]
    f, (x,) = _jax_call(fn, case, [position])
    v = jnp.asarray(np.random.default_rng(1).standard_normal(x.shape))
    table = _hvp(f, x, v)
    monkeypatch.setenv("ARRAYLOSS_DISABLE_FASTPATHS", "1")  # the kernel itself
    assert_close(
        np.asarray(table),
        np.asarray(_hvp(_kernel_autodiff(fn, case, position), x, v)),
        rtol=1e-9,
        atol=1e-11,
    )


@pytest.mark.parametrize("name", FIRST_ORDER_ONLY)
def test_second_order_is_refused_where_the_spec_says_so(name):
    spec, fn = _loss(name)
    case = _first_case(spec, name)
    position = _float_positions(spec, case)[0]
    f, (x,) = _jax_call(fn, case, [position])
    jax.grad(f)(x)  # first order works
    with pytest.raises(NotImplementedError, match="second-order gradients are not available"):
        _hvp(f, x, jnp.ones_like(x))
    if "torch" in spec.backends:
        g, (t,) = _torch_call(fn, case, [position])
        (first,) = torch.autograd.grad(g(t).sum(), t, create_graph=True)
        with pytest.raises(RuntimeError, match="second-order gradients are not available"):
            first.sum().backward()


def _first_order_mse(pred: Any, target: Any) -> Any:
    """``al.mse`` under a spec that declares no second order."""
    problem = al.mse.__arrayloss_prepare__(pred, target)
    problem.spec = dataclasses.replace(problem.spec, name="mse_first_order", second_order=False)
    return _engine.value(problem)


def test_second_order_off_raises_a_clear_error_in_jax_and_torch():
    p, t = np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.0, 1.5])
    grad = jax.grad(_first_order_mse)
    assert_close(np.asarray(grad(jnp.asarray(p), jnp.asarray(t))), 2 * (p - t) / 3)
    with pytest.raises(NotImplementedError, match="not available for mse_first_order"):
        jax.grad(lambda x: jnp.sum(grad(x, jnp.asarray(t))))(jnp.asarray(p))
    with pytest.raises(NotImplementedError, match="not available for mse_first_order"):
        jax.jit(jax.hessian(_first_order_mse))(jnp.asarray(p), jnp.asarray(t))
    x = _to_torch(p, requires_grad=True)
    (g,) = torch.autograd.grad(_first_order_mse(x, _to_torch(t)), x, create_graph=True)
    assert_close(g.detach().numpy(), 2 * (p - t) / 3)
    with pytest.raises(RuntimeError, match="not available for mse_first_order"):
        g.sum().backward()


def _plain_cross_entropy(logits: Any, labels: Any) -> Any:
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked)


def _plain_huber(pred: Any, target: Any) -> Any:
    z = jnp.abs(pred - target)
    return jnp.mean(jnp.where(z < 0.7, 0.5 * z * z, 0.7 * (z - 0.35)))


@pytest.mark.parametrize(
    ("name", "loss", "plain", "inputs"),
    [
        ("mse", lambda p, t: al.mse(p, t), lambda p, t: jnp.mean((p - t) ** 2), "regression"),
        ("huber", lambda p, t: al.huber(p, t, delta=0.7), _plain_huber, "regression"),
        ("cross_entropy", lambda x, y: al.cross_entropy(x, y), _plain_cross_entropy, "labels"),
    ],
)
def test_jax_hessian_equals_the_hessian_of_a_plain_formula(name, loss, plain, inputs):
    if name not in NAMES:
        pytest.skip(f"{name} is not registered yet")
    rng = np.random.default_rng(2)
    if inputs == "labels":
        x, y = jnp.asarray(rng.standard_normal((4, 5))), jnp.asarray(rng.integers(0, 5, 4))
    else:
        # |pred - target| in (0.1, 0.5) or (1, 2): away from huber's kink at 0.7
        t = rng.standard_normal(6)
        d = rng.choice([-1, 1], 6) * np.concatenate(
            [rng.uniform(0.1, 0.5, 3), rng.uniform(1, 2, 3)]
        )
        x, y = jnp.asarray(t + d), jnp.asarray(t)
    for hessian in (jax.hessian, lambda f: jax.jacrev(jax.grad(f))):
        assert_close(
            np.asarray(jax.jit(hessian(loss))(x, y)),
            np.asarray(jax.jit(hessian(plain))(x, y)),
            rtol=1e-10,
            atol=1e-13,
        )


def test_eager_jax_calls_reuse_one_cached_trace():
    p, t = jnp.linspace(-1.0, 1.0, 37), jnp.zeros(37)  # a shape no other test uses
    before = _autodiff_jax.TRACES["huber"]
    al.huber(p, t, delta=0.25)
    assert _autodiff_jax.TRACES["huber"] == before + 1
    al.huber(p + 1, t, delta=0.25)
    al.huber(p, t - 1, delta=0.25)
    assert _autodiff_jax.TRACES["huber"] == before + 1
    al.huber(p, t, delta=0.5)  # another static option: one new trace, then cached
    al.huber(p, t, delta=0.5)
    assert _autodiff_jax.TRACES["huber"] == before + 2
    value_and_grad = al.value_and_grad(al.huber)
    value_and_grad(p, t, delta=0.25)
    value_and_grad(p * 2, t, delta=0.25)
    assert _autodiff_jax.TRACES["huber"] == before + 3


def test_value_and_grad_with_donate_writes_the_gradient_over_the_input():
    rng = np.random.default_rng(3)
    pn, tn = (
        rng.standard_normal((5, 4)).astype(np.float32),
        rng.standard_normal((5, 4)).astype(np.float32),
    )
    p = jnp.asarray(pn)
    value, g = al.value_and_grad(al.mse, donate=True)(p, jnp.asarray(tn))
    assert p.is_deleted()
    assert g.dtype == jnp.float32
    assert_close(np.asarray(value), np.mean((pn - tn) ** 2), rtol=RTOL32)
    assert_close(np.asarray(g), 2 * (pn - tn) / pn.size, rtol=RTOL32)
    # jitted by the caller, passed twice, or low precision: nothing to donate, still right
    q = jnp.asarray(pn)
    value, _ = jax.jit(al.value_and_grad(al.mse, wrt=(0, 1), donate=True))(q, q)
    assert float(value) == 0.0
    assert not q.is_deleted()
    low = jnp.asarray(pn, dtype=jnp.bfloat16)
    _, g = al.value_and_grad(al.mse, donate=True)(low, jnp.asarray(tn, dtype=jnp.bfloat16))
    assert g.dtype == jnp.bfloat16


def test_donate_is_ignored_off_jax():
    p, t = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    _, g = al.value_and_grad(al.mse, donate=True)(p, t)
    assert_close(g, np.array([1.0, 2.0]))
    assert p.tolist() == [1.0, 2.0]
    tp = torch.tensor([1.0, 2.0])
    _, g = al.value_and_grad(al.mse, donate=True)(tp, torch.zeros(2))
    assert tp.tolist() == [1.0, 2.0]
    assert g.tolist() == [1.0, 2.0]


def test_gradients_of_inputs_without_a_table_entry_come_from_the_kernel():
    rng = np.random.default_rng(4)
    p, t, w = rng.standard_normal(6), rng.standard_normal(6), rng.uniform(0.5, 2.0, 6)

    def plain(p: Any, w: Any) -> Any:
        return jnp.sum(w * (p - t) ** 2) / jnp.sum(w)

    expected = jax.grad(plain, argnums=(0, 1))(jnp.asarray(p), jnp.asarray(w))
    got = jax.grad(lambda p, w: al.mse(p, jnp.asarray(t), weight=w), argnums=(0, 1))(
        jnp.asarray(p), jnp.asarray(w)
    )
    assert_close(tuple(np.asarray(g) for g in got), tuple(np.asarray(g) for g in expected))
    # mape has no table entry for target
    got = jax.grad(lambda t: al.mape(jnp.asarray(p), t))(jnp.asarray(t))
    expected = (-np.sign(p - t) / np.abs(t) - np.abs(p - t) * np.sign(t) / t**2) / 6
    assert_close(np.asarray(got), expected, rtol=1e-10)

    pt, wt = _to_torch(p, requires_grad=True), _to_torch(w, requires_grad=True)
    al.mse(pt, _to_torch(t), weight=wt).backward()
    pr, wr = _to_torch(p, requires_grad=True), _to_torch(w, requires_grad=True)
    ((wr * (pr - _to_torch(t)) ** 2).sum() / wr.sum()).backward()
    assert_close((pt.grad.numpy(), wt.grad.numpy()), (pr.grad.numpy(), wr.grad.numpy()))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_gradients_come_back_in_the_input_dtype(name, dtype):
    spec, fn = _loss(name)
    case = _first_case(spec, name)
    positions = _float_positions(spec, case)
    f, diff = _jax_call(fn, case, positions, dtype=getattr(jnp, dtype))
    grads = jax.jit(jax.grad(f, argnums=tuple(range(len(diff)))))(*diff)
    assert [g.dtype for g in grads] == [jnp.dtype(dtype)] * len(diff)
    if "torch" not in spec.backends:
        return
    tdtype = getattr(torch, dtype)
    args = [_to_torch(a, tdtype, requires_grad=i in positions) for i, a in enumerate(case.args)]
    opts = {k: _to_torch(v, tdtype) for k, v in case.options.items()}
    out = fn(*args, **opts)
    assert out.dtype == tdtype
    out.sum().backward()
    assert [args[i].grad.dtype for i in positions] == [tdtype] * len(positions)


# ------------------------------------------------------------------- PyTorch


def _torch_call(
    fn: Callable[..., Any], case: Case, positions: Sequence[int]
) -> tuple[Callable[..., Any], list[Any]]:
    args = [_to_torch(a, requires_grad=i in positions) for i, a in enumerate(case.args)]
    opts = {k: _to_torch(v) for k, v in case.options.items()}

    def f(*diff: Any) -> Any:
        full = list(args)
        for i, d in zip(positions, diff, strict=True):
            full[i] = d
        return fn(*full, **opts)

    return f, [args[i] for i in positions]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_backward_equals_the_table_and_the_reference(name):
    spec, fn = _loss(name)
    for case in _cases_with_gradients(spec, name):
        positions = _float_positions(spec, case)
        f, diff = _torch_call(fn, case, positions)
        out = f(*diff)
        assert type(out.grad_fn).__name__ == "TableFunctionBackward"
        out.sum().backward()
        grads = [d.grad.numpy() for d in diff]
        table_value, table_grads = _table(fn, case, positions)
        label = f"{name} [{case.label}]"
        assert_close(out.sum().detach().numpy(), table_value, rtol=RTOL64, atol=ATOL, err_msg=label)
        assert_close(tuple(grads), table_grads, rtol=RTOL64, atol=ATOL, err_msg=label)
        _check_reference(name, spec, case, positions, out.sum().detach().numpy(), grads)


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_gradcheck_passes(name):
    spec, fn = _loss(name)
    case = _first_case(spec, name)
    # Finite differences step outside the domain of arguments holding 0s and 1s
    # (one-hot targets, binary labels): those are checked against the table above.
    positions = [
        i for i in _float_positions(spec, case) if not np.isin(case.args[i], (0.0, 1.0)).any()
    ]
    if not positions:
        pytest.skip(f"every differentiable argument of {name}'s case sits on a domain boundary")
    f, diff = _torch_call(fn, case, positions)
    assert torch.autograd.gradcheck(f, tuple(diff))
    if spec.second_order:
        assert torch.autograd.gradgradcheck(f, tuple(diff))


def test_torch_backward_sees_inputs_modified_in_place():
    p, t = (
        torch.randn(4, dtype=torch.float64, requires_grad=True),
        torch.randn(4, dtype=torch.float64),
    )
    x = p * 1.0
    loss = al.huber(x, t)
    with torch.no_grad():
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def _train_step(loss: Callable[..., Any]) -> Callable[..., Any]:
    def step(w: Any, x: Any, y: Any) -> Any:
        value = loss(torch.tanh(x @ w), y)
        value.backward()
        return value.detach()

    return step


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
@pytest.mark.parametrize("compiler", ["eager", "aot_eager"])
def test_torch_compile_of_a_training_step_falls_back_to_the_table(compiler):
    gen = torch.Generator().manual_seed(5)
    x, y = (
        torch.randn(8, 3, generator=gen, dtype=torch.float64),
        torch.randn(8, 2, generator=gen, dtype=torch.float64),
    )
    w0 = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    results = []
    for step in (
        _train_step(lambda p, t: F.huber_loss(p, t, delta=0.5)),
        torch.compile(_train_step(lambda p, t: al.huber(p, t, delta=0.5)), backend=compiler),
    ):
        w = w0.clone().requires_grad_(True)
        value = step(w, x, y)
        results.append((value.numpy(), w.grad.numpy()))
    torch._dynamo.reset()
    assert_close(results[1], results[0])


def _fast_path_cases() -> list[Any]:
    gen = np.random.default_rng(6)
    labels = gen.integers(0, 5, (4, 3))
    labels[0, 0] = -100  # ignored: leaves the mean's denominator
    return [
        pytest.param(
            al.mse,
            F.mse_loss,
            gen.standard_normal((6, 3)),
            gen.standard_normal((6, 3)),
            {},
            id="mse",
        ),
        pytest.param(
            al.cross_entropy,
            F.cross_entropy,
            gen.standard_normal((7, 5)),
            gen.integers(0, 5, 7),
            {},
            id="ce",
        ),
        pytest.param(
            al.cross_entropy,
            F.cross_entropy,
            gen.standard_normal((4, 5, 3)),
            labels,
            {"axis": 1},
            id="ce-axis1-ignored",
        ),
    ]


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize(("loss", "torch_loss", "x", "y", "options"), _fast_path_cases())
def test_torch_fast_paths_match_pytorch_and_the_generic_kernel(
    loss, torch_loss, x, y, options, reduction, monkeypatch
):
    torch_options = {k: v for k, v in options.items() if k != "axis"}
    expected = torch_loss(
        _to_torch(x, requires_grad=True), _to_torch(y), reduction=reduction, **torch_options
    )
    cot = torch.from_numpy(np.random.default_rng(7).uniform(0.5, 1.5, tuple(expected.shape)))
    results = []
    for disabled in ("", "1"):
        monkeypatch.setenv("ARRAYLOSS_DISABLE_FASTPATHS", disabled)
        xt = _to_torch(x, requires_grad=True)
        out = loss(xt, _to_torch(y), reduction=reduction, **options)
        (g,) = torch.autograd.grad(out, xt, cot)
        results.append((out.detach().numpy(), g.numpy()))
    xr = _to_torch(x, requires_grad=True)
    ref = torch_loss(xr, _to_torch(y), reduction=reduction, **torch_options)
    (gr,) = torch.autograd.grad(ref, xr, cot)
    assert_close(results[0], (ref.detach().numpy(), gr.numpy()), rtol=RTOL64, atol=ATOL)
    assert_close(results[0], results[1], rtol=RTOL64, atol=ATOL)
    # al.value_and_grad on tensors takes the fused fast path (value and gradient at once)
    monkeypatch.setenv("ARRAYLOSS_DISABLE_FASTPATHS", "")
    value, g = al.value_and_grad(loss)(
        _to_torch(x), _to_torch(y), reduction=reduction, cotangent=cot, **options
    )
    assert_close((value.numpy(), g.numpy()), results[1], rtol=RTOL64, atol=ATOL)


# --------------------------------------------------------------- the harness


def test_jax_jit_harness_traces_every_array_argument():
    from conftest import Backend, Harness

    harness = Harness(Backend.JAX_JIT)
    seen = []

    def probe(x: Any, y: Any, *, weight: Any, delta: float) -> Any:
        seen.extend(isinstance(a, jax.core.Tracer) for a in (x, y, weight))
        assert isinstance(delta, float)
        return x

    harness.call(probe, jnp.ones(2), jnp.ones(2), weight=jnp.ones(2), delta=0.5)
    assert seen == [True, True, True]

    def branches_on_a_value(x: Any) -> Any:
        return x if float(x.sum()) > 0 else -x

    with pytest.raises(jax.errors.ConcretizationTypeError):
        harness.call(branches_on_a_value, jnp.ones(2))

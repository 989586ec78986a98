"""Cross-backend conformance: every registered loss on every backend it advertises.

The inputs are the ones ``python -m arrayloss check`` uses (``arrayloss.conformance``),
so the test suite and the checker cannot drift apart. The parametrization is the
registry x ``LossRecord.backends``: a loss that advertises a backend is exercised on it
here (the harness skips a backend that is not installed, naming it), and the tests at
the end fail when a loss advertises a backend no harness runs, or has no inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import arrayloss as al
from arrayloss._spec import get_spec, public_functions, registry
from arrayloss._targets import Target
from arrayloss.conformance import Case, cases_for, differentiable, relative_error
from arrayloss.conformance.runner import evaluate

from conftest import Backend, Harness, selected_backends

#: DESIGN.md section 7: float64 results agree across backends within 1e-12.
RTOL = 1e-12

RECORDS = registry()
LOSSES = sorted({get_spec(name).name for name in RECORDS})
_NUMPY = Target("numpy", "numpy", "cpu", np.__version__)


def conformance_params(kinds: list[Backend]) -> list[Any]:
    """``(loss, backend)`` for every loss and every backend kind whose library it advertises."""
    params = []
    for name in LOSSES:
        for kind in kinds:
            if kind.library in RECORDS[name].backends:
                marks = [pytest.mark.gpu] if kind.is_gpu else []
                params.append(pytest.param(name, kind, id=f"{name}-{kind.value}", marks=marks))
    return params


def _baseline(
    name: str, case: Case, wrt: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[Any]]:
    with monkeypatch.context() as m:
        m.setenv("ARRAYLOSS_DISABLE_FASTPATHS", "1")
        return evaluate(public_functions()[name], case, _NUMPY, "float64", wrt)


def _on(backend: Harness, x: Any) -> Any:
    return backend.asarray(x) if isinstance(x, np.ndarray) else x


@pytest.mark.parametrize(
    ("loss", "backend"), conformance_params(selected_backends()), indirect=["backend"]
)
def test_loss_and_gradients_match_numpy_float64(
    loss: str, backend: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = cases_for(loss)
    assert cases is not None, f"{loss} has no conformance inputs in arrayloss.conformance"
    fn = public_functions()[loss]
    # JAX compiles and Dask schedules per case: their first case carries the coverage
    # here (python -m arrayloss check runs every case on them).
    for case in cases[:1] if backend.library in ("jax", "dask") else cases:
        wrt = differentiable(loss, case)
        want_value, want_grads = _baseline(loss, case, wrt, monkeypatch)
        args = [_on(backend, a) for a in case.args]
        options = {k: _on(backend, v) for k, v in case.options.items()}
        value, grads = backend.call(al.value_and_grad(fn, wrt=wrt), *args, **options)
        got = backend.to_numpy((value, *grads))
        label = f"{loss} [{case.label}] on {backend.name}"
        assert relative_error(got[0], want_value) <= RTOL, (
            f"{label}: value {got[0]} != {want_value}"
        )
        for name, g, want in zip(wrt, got[1:], want_grads, strict=True):
            error = relative_error(g, want)
            assert error <= RTOL, f"{label}: gradient of {name} off by {error:.2e} (relative)"


def test_every_advertised_backend_is_run_by_a_harness() -> None:
    libraries = {kind.library for kind in Backend}
    for name, record in RECORDS.items():
        untested = sorted(set(record.backends) - libraries)
        assert not untested, (
            f"{name} advertises backends {untested} (LossRecord.backends) that no test harness "
            f"runs; tests/conftest.py's Backend covers {sorted(libraries)}"
        )


def test_every_loss_and_advertised_backend_is_parametrized() -> None:
    covered = {(p.values[0], p.values[1].library) for p in conformance_params(list(Backend))}
    missing = [
        (name, b)
        for name, record in RECORDS.items()
        for b in record.backends
        if (get_spec(name).name, b) not in covered
    ]
    assert not missing, f"advertised (loss, backend) pairs with no conformance test: {missing}"


def test_every_loss_has_conformance_inputs() -> None:
    missing = [name for name in LOSSES if cases_for(name) is None]
    assert not missing, (
        f"no conformance inputs for {missing}; add a factory in arrayloss/conformance/cases_*.py"
    )


def test_conformance_cases_are_deterministic() -> None:
    first, second = cases_for("cross_entropy"), cases_for("cross_entropy")
    assert first is not None
    assert second is not None
    for a, b in zip(first, second, strict=True):
        for x, y in zip(a.args, b.args, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    ("actual", "desired", "expected"),
    [
        ([1.0, 2.0], [1.0, 2.0], 0.0),
        ([1.0, 2.5], [1.0, 2.0], 0.25),  # max |diff| / max |desired|
        ([1e-9], [0.0], 1e-9),  # all-zero reference: absolute error
        ([np.nan, 1.0], [np.nan, 1.0], 0.0),
        ([np.nan], [1.0], np.inf),
        ([np.inf], [np.inf], 0.0),
        ([-np.inf], [np.inf], np.inf),
        ([1.0, 2.0], [1.0], np.inf),  # shape mismatch
    ],
)
def test_relative_error_is_normwise_and_strict_about_nan_and_inf(
    actual: Any, desired: Any, expected: float
) -> None:
    assert relative_error(np.asarray(actual), np.asarray(desired)) == pytest.approx(expected)

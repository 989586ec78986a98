"""Every error of DESIGN.md section 3 with its message, on every eager backend (and the
value checks' NaN on the lazy ones)."""

from __future__ import annotations

import numpy as np
import pytest

import arrayloss as al


def test_shapes_that_do_not_broadcast_name_both_shapes(backend):
    pred = backend.asarray(np.ones(3))
    target = backend.asarray(np.ones(4))
    with pytest.raises(ValueError, match=r"pred has shape \(3,\) but target has shape \(4,\)"):
        backend.call(al.mse, pred, target)


def test_integer_predictions_are_a_typeerror(backend):
    pred = backend.asarray(np.array([1, 2], dtype=np.int64))
    target = backend.asarray(np.ones(2))
    with pytest.raises(TypeError, match=r"pred must be a real floating array .* got dtype int64"):
        backend.call(al.mse, pred, target)


def test_complex_predictions_are_a_typeerror(backend):
    if backend.library in ("dask",):
        pytest.skip("dask.array.from_array keeps complex; checked on the eager backends")
    pred = backend.asarray(np.array([1 + 1j, 2]))
    with pytest.raises(TypeError, match="pred must be a real floating array"):
        backend.call(al.mae, pred, backend.asarray(np.ones(2)))


@pytest.mark.parametrize(
    ("fn", "options", "message"),
    [
        (al.huber, {"delta": 0.0}, r"delta=0\.0 is out of range; delta must be a number > 0"),
        (al.huber, {"delta": -1}, r"delta=-1 is out of range"),
        (al.smooth_l1, {"beta": -0.5}, r"beta=-0\.5 is out of range; beta must be a number >= 0"),
        (al.quantile, {"q": 1.5}, r"q=1\.5 is out of range; q must be in \[0, 1\]"),
        (
            al.tweedie_deviance,
            {"power": 0.5},
            r"power=0\.5 is out of range; power must be <= 0 or >= 1",
        ),
        (al.poisson_nll, {"eps": 0.0}, r"eps=0\.0 is out of range"),
        (al.mse, {"reduction": "batchmean"}, r"reduction='batchmean' is not valid"),
    ],
)
def test_option_out_of_range_names_the_option_and_value(fn, options, message):
    with pytest.raises(ValueError, match=message):
        fn(np.ones(2), np.ones(2), **options)


def test_negative_variance_is_a_valueerror_on_eager_backends_and_nan_on_lazy(backend):
    pred = backend.asarray(np.zeros(3))
    var = backend.asarray(np.array([1.0, -0.5, 2.0]))
    if backend.lazy:
        value = backend.call(al.gaussian_nll, pred, pred, var)
        assert np.isnan(backend.to_numpy(value))
        return
    with pytest.raises(
        ValueError, match=r"var has a negative entry \(-0\.5\); the variance must be >= 0"
    ):
        backend.call(al.gaussian_nll, pred, pred, var)


def test_negative_python_float_variance_is_a_valueerror():
    with pytest.raises(ValueError, match=r"var=-1\.0 is negative"):
        al.gaussian_nll(np.zeros(2), np.zeros(2), -1.0)


def test_variance_of_the_wrong_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"var has shape \(2, 5\) but pred has shape \(2, 3\)"):
        al.gaussian_nll(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 5)))


def test_tweedie_domain_is_a_valueerror_on_eager_backends_and_nan_on_lazy(backend):
    pred = backend.asarray(np.array([1.0, -2.0]))
    target = backend.asarray(np.array([1.0, 1.0]))
    if backend.lazy:
        assert np.isnan(
            backend.to_numpy(backend.call(al.tweedie_deviance, pred, target, power=1.5))
        )
        return
    with pytest.raises(
        ValueError,
        match=r"pred has an entry -2\.0 outside the domain .* power=1\.5; pred must be > 0",
    ):
        backend.call(al.tweedie_deviance, pred, target, power=1.5)


def test_differentiating_a_non_differentiable_argument_is_a_valueerror():
    with pytest.raises(
        ValueError,
        match=r"cannot differentiate mape with respect to 'target'; its differentiable arguments are: pred",
    ):
        al.grad(al.mape, wrt="target")


def test_wrt_position_out_of_range_is_a_valueerror():
    with pytest.raises(
        ValueError, match=r"wrt=5 is out of range; mse has 2 array arguments: pred, target"
    ):
        al.grad(al.mse, wrt=5)


def test_grad_of_a_non_arrayloss_function_is_a_typeerror():
    with pytest.raises(TypeError, match="is not an arrayloss loss"):
        al.grad(np.sum)

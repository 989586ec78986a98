"""The dispatcher: namespace inference, xp=, conversion, use_backend, backends()."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

import arrayloss as al
from arrayloss import _dispatch

from _helpers import assert_close


def test_numpy_inputs_give_a_numpy_0d_array():
    value = al.mse(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    assert type(value) is np.ndarray
    assert value.shape == ()
    assert float(value) == 2.0


def test_result_lives_in_the_inputs_library(backend):
    value = backend.call(al.mse, backend.asarray([1.0, 2.0]), backend.asarray([0.0, 0.0]))
    assert _dispatch.library_of(value) == backend.library


@pytest.mark.parametrize("name", ["numpy", "array_api_strict", "jax", "torch", "dask"])
def test_xp_by_name_converts_numpy_inputs_to_that_backend(name):
    pytest.importorskip(_dispatch._IMPORT_NAMES[name])
    value = al.mse(np.array([1.0, 3.0]), np.array([1.0, 1.0]), xp=name)
    assert _dispatch.library_of(value) == name
    assert_close(np.asarray(_to_numpy(value)), 2.0)


def _to_numpy(x):
    from conftest import to_numpy

    return to_numpy(x)


def test_xp_as_a_module_is_accepted():
    assert_close(al.mse(np.ones(2), np.zeros(2), xp=np), 1.0)
    import array_api_compat.numpy as cnp

    assert_close(al.mse(np.ones(2), np.zeros(2), xp=cnp), 1.0)


def test_xp_converts_between_libraries():
    torch = pytest.importorskip("torch")
    pred = torch.tensor([1.0, 3.0], dtype=torch.float64)
    value = al.mse(pred, np.array([1.0, 1.0]), xp="numpy")
    assert isinstance(value, np.ndarray)
    assert float(value) == 2.0


def test_auto_picks_numpy_without_an_accelerator(monkeypatch):
    monkeypatch.setattr(_dispatch, "_cuda_usable", lambda: False)
    monkeypatch.setattr(_dispatch, "_jax_accelerated", lambda: False)
    assert _dispatch.backend_name(_dispatch.get_namespace("auto")) == "numpy"


def test_auto_prefers_cupy_then_jax_accelerators(monkeypatch):
    monkeypatch.setattr(_dispatch, "_cuda_usable", lambda: True)
    monkeypatch.setattr(_dispatch, "_import_backend", lambda name: name)
    assert _dispatch.get_namespace("auto") == "cupy"
    monkeypatch.setattr(_dispatch, "_cuda_usable", lambda: False)
    monkeypatch.setattr(_dispatch, "_jax_accelerated", lambda: True)
    assert _dispatch.get_namespace("auto") == "jax"


def test_arrays_of_two_libraries_raise_typeerror_naming_both():
    torch = pytest.importorskip("torch")
    with pytest.raises(
        TypeError,
        match=r"pred is a numpy\.ndarray \(numpy\) but target is a torch\.Tensor \(torch\)",
    ):
        al.mse(np.ones(2), torch.ones(2))


def test_weight_from_another_library_raises_typeerror():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"weight is a torch\.Tensor"):
        al.mse(np.ones(2), np.ones(2), weight=torch.ones(2))


def test_unknown_backend_name_lists_the_valid_names():
    with pytest.raises(
        ValueError,
        match=r"unknown backend 'tensorflow'; valid names are 'numpy', 'cupy', 'jax', 'torch', 'dask', 'array_api_strict', 'auto'",
    ):
        al.mse(np.ones(2), np.ones(2), xp="tensorflow")


def test_missing_backend_names_the_extra_to_install(monkeypatch):
    real = importlib.import_module

    def fake_import(name, *args, **kwargs):
        if name.startswith("cupy"):
            raise ImportError("No module named 'cupy'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "arrayloss\[cupy\]"'):
        al.mse(np.ones(2), np.ones(2), xp="cupy")


def test_xp_of_the_wrong_type_is_a_typeerror():
    with pytest.raises(TypeError, match="xp must be a module or a backend name"):
        al.mse(np.ones(2), np.ones(2), xp=3)


def test_python_scalars_alone_are_rejected():
    with pytest.raises(TypeError, match="no array among the arguments"):
        al.mse(1.0, 2.0)


def test_python_scalars_are_fine_with_xp():
    assert_close(al.mse(1.0, 3.0, xp="numpy"), 4.0)


def test_lists_next_to_an_array_are_converted():
    assert_close(al.mse(np.array([1.0, 2.0]), [0.0, 0.0]), 2.5)


def test_use_backend_sets_the_namespace_for_the_block():
    torch = pytest.importorskip("torch")
    with al.use_backend("torch"):
        value = al.mse(np.ones(3), np.zeros(3))
    assert isinstance(value, torch.Tensor)
    assert isinstance(al.mse(np.ones(3), np.zeros(3)), np.ndarray)


def test_use_backend_nests_and_restores():
    pytest.importorskip("array_api_strict")
    with al.use_backend("array_api_strict"):
        with al.use_backend("numpy"):
            assert isinstance(al.mse(np.ones(1), np.zeros(1)), np.ndarray)
        assert _dispatch.library_of(al.mse(np.ones(1), np.zeros(1))) == "array_api_strict"


def test_use_backend_is_per_thread():
    pytest.importorskip("array_api_strict")
    seen: dict[str, str | None] = {}
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        with al.use_backend(name):
            barrier.wait()
            seen[name] = _dispatch.library_of(al.mse(np.ones(2), np.zeros(2)))
            barrier.wait()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("numpy", "array_api_strict")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"numpy": "numpy", "array_api_strict": "array_api_strict"}


def test_backends_lists_numpy_with_version_and_device():
    found = {b.name: b for b in al.backends()}
    assert found["numpy"].version == np.__version__
    assert found["numpy"].devices == ("cpu",)


def test_conversion_keeps_values_and_dtype(backend):
    x = np.array([[1.5, -2.0]], dtype=np.float32)
    converted = _dispatch.convert(x, backend.xp)
    assert _dispatch.library_of(converted) == backend.library
    back = _to_numpy(converted)
    assert back.dtype == np.float32
    assert_close(back, x)


def test_readonly_numpy_inputs_work_with_a_conversion():
    x = np.array([1.0, 2.0])
    x.flags.writeable = False
    pytest.importorskip("torch")
    assert float(al.mse(x, x, xp="torch")) == 0.0


def test_results_stay_on_the_inputs_device(backend):
    import array_api_compat

    pred = backend.asarray([1.0, 2.0])
    value, grad = backend.call(al.value_and_grad(al.mse), pred, backend.asarray([0.0, 0.0]))
    if backend.name != "jax_jit":
        assert array_api_compat.device(grad) == array_api_compat.device(pred)
        assert array_api_compat.device(value) == array_api_compat.device(pred)

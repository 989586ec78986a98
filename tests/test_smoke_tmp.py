from _helpers import assert_close
import arrayloss as al

def test_mse(backend):
    p = backend.asarray([1.0, 2.0]); t = backend.asarray([0.0, 0.0])
    v = backend.call(al.mse, p, t)
    assert_close(backend.to_numpy(v), 2.5)
    g = backend.call(al.grad(al.mse), p, t)
    assert_close(backend.to_numpy(g), [1.0, 2.0])

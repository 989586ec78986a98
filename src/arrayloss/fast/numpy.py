"""NumPy fast paths: one fused value-and-gradient pass per loss, in cache-sized chunks.

Each fast path writes its gradient once, into one buffer it allocates itself, with the
reduction's scale (and the caller's cotangent) folded in; the loss is summed per chunk
while the chunk is still in cache, and chunks run on the small thread pool of
:mod:`._chunks`. No float64 upcasts: float32 in, float32 work. A fast path covers the
common case and returns ``NotImplemented`` for anything else, where the generic kernel
runs. Importing this module registers the fast path of every family.
"""

from __future__ import annotations

from . import numpy_binary as numpy_binary
from . import numpy_distribution as numpy_distribution
from . import numpy_regression as numpy_regression
from . import numpy_rows as numpy_rows
from . import numpy_softmax as numpy_softmax

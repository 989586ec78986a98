"""Pure array-API kernels and gradient tables, one module per loss family.

Kernels take the namespace first and use only ``xp.*`` calls and the helpers of
``arrayloss._math``; no validation, no backend branches, no Python control flow on
array values, so they trace under ``jax.jit`` and stay lazy under Dask.
"""

"""Run the arrayloss benchmark: ``python benchmarks/bench.py [--quick] [--workload C4] ...``.

The same as ``python -m arrayloss bench``; the suite lives in ``arrayloss.benchmark`` so
that it runs from an installed package too. See ``benchmarks/README.md``.
"""

from __future__ import annotations

from arrayloss.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main())

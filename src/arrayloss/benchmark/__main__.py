"""``python -m arrayloss.benchmark``: the same as ``python -m arrayloss bench``."""

from __future__ import annotations

from . import main

raise SystemExit(main())

"""Cross-backend conformance: shared inputs, independent references and the checker.

``python -m arrayloss check`` and ``tests/test_conformance.py`` both read
:data:`~arrayloss.conformance.inputs.INPUTS` (small deterministic inputs per loss), so
every loss the registry lists is exercised on every backend it advertises.
"""

from __future__ import annotations

from .inputs import INPUTS as INPUTS
from .inputs import Case as Case
from .inputs import cases_for as cases_for
from .references import REFERENCES as REFERENCES
from .references import Reference as Reference
from .runner import TOLERANCES as TOLERANCES
from .runner import Measurement as Measurement
from .runner import Report as Report
from .runner import check as check
from .runner import differentiable as differentiable
from .runner import relative_error as relative_error

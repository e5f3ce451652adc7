"""The reduction operators of the collectives (constants: each collective compiles one branch)."""
from __future__ import annotations

SUM, MAX, MIN = 0, 1, 2
OPERATORS = {"sum": SUM, "max": MAX, "min": MIN}

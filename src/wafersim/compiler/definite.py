"""Definite assignment's states: the names assigned on every path to a point of a kernel (a set), or None
where no path reaches it (after a return, break or continue). Statements and loops meet them at join points."""
from __future__ import annotations

import ast


def meet(*states: set[str] | None) -> set[str] | None:
    """Names defined on every path that reaches a join point (None: no path does)."""
    reachable = [s for s in states if s is not None]
    if not reachable:
        return None
    return set.intersection(*reachable)


def copy_defined(state: set[str] | None) -> set[str] | None:
    """A copy of a definite-assignment state (None: unreachable), to keep while `self.defined` changes."""
    return None if state is None else set(state)


def stored_names(statements: list[ast.stmt]) -> set[str]:
    """The names that `statements` assign (store to) anywhere in them."""
    return {n.id for s in statements for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}

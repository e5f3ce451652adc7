"""Route changes the simulation ran out of their cycles' order, in a launch without racecheck: an error.

The simulator applies a `route` when it runs it and fixes a routed word's path when it runs its send
(`racecheck_routes`), so where it ran a change and a word passing that router in the other order than their
cycles, the word went where the hardware does not send it: a wrong answer, or a receiver waiting for good.
Under racecheck those are reported as races; without it, rather than return that answer silently, the launch
stops with a `RouteError` naming both lines and cycles and the fix (a barrier between), at the end of the
wave that ran them, or from the wave's failure where one came first (device memory is left as before the
launch, as for any failed launch). Same-cycle pairs (a race the hardware may settle either way) are left to
racecheck, as races on global memory are. A program that never changes routes has no watch and no check.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..arch.values import plural
from ..errors import RouteError
from .racecheck import ROUTE_ADVICE, RaceHazard, RouteGroups, group_route_races, route_races
from .racecheck_routes import route_hazards, strictly_misordered

if TYPE_CHECKING:
    from .engine import Launch


class RouteOrderCheck:
    """Stops a launch without racecheck whose route changes ran strictly out of cycle order against words."""

    def __init__(self, launch: "Launch") -> None:
        self.launch = launch

    def wave_done(self, sim, failure: Exception | None = None) -> None:
        """Raise a `RouteError` if the wave `sim`, which ended (or failed with `failure`), ran a route change
        strictly out of cycle order against a word of its channel passing its router."""
        watch = sim.route_watch
        if watch is None or watch.analysed:
            return
        watch.analysed = True
        found = [f for f in route_hazards(watch) if strictly_misordered(f)]
        if not found:
            return
        groups: RouteGroups = {}
        group_route_races(self.launch, sim, found, groups)
        error = misorder_error(self.launch.program.name, route_races(groups), failure)
        if failure is not None:
            error.wave_states = getattr(failure, "wave_states", None)  # (its `state`, as the failure's)
            raise error from failure
        raise error


def misorder_error(program: str, races: list[RaceHazard], failure: Exception | None) -> RouteError:
    """The `RouteError` of route changes run out of cycle order (`races`), the launch's `failure` if it
    failed after them."""
    lines = "\n".join(f"  {hazard}" for hazard in races)
    then = ""
    if failure is not None:
        then = (f"\nThe launch then failed, perhaps because of them: {type(failure).__name__}: "
                f"{str(failure).split(chr(10), 1)[0]}")
    return RouteError(
        f"{program}: {plural(len(races), 'route change')} ran out of cycle order against words passing the "
        f"changed router (pairs of instructions):\n{lines}{then}\nThe simulator applies a route change when it "
        f"runs it, not at its cycle, so these words would go where the hardware does not send them: the launch "
        f"stops rather than give that result (device memory is as before the launch).\nWhat can fix them:\n"
        f"- {ROUTE_ADVICE}\nracecheck=True finds the same-cycle ones too, which the hardware may route either "
        f"way (docs/racecheck.md)", races=races, failure=failure)

"""Constants of the collectives: reduction operators and route pattern numbers (ints, so that they can
pass through device-function arguments; `ws.use_route` takes them like the pattern names)."""
from __future__ import annotations

from ..isa.routes import PATTERN_NAMES

SUM, MAX, MIN = 0, 1, 2
OPERATORS = {"sum": SUM, "max": MAX, "min": MIN}

ROW_BUS, COLUMN_BUS, BLOCK_BUS, CHAIN_NORTH, CHAIN_EAST, CHAIN_SOUTH, CHAIN_WEST = (
    PATTERN_NAMES.index(name) for name in ("row_bus", "column_bus", "block_bus", "chain_north", "chain_east",
                                           "chain_south", "chain_west"))

"""Channel routes set at launch: `kernel[grid, block](args..., routes=[ws.routes.row_broadcast(1)])`.

A `Route` configures one channel at every PE router of each block: for each input port (ws.NORTH,
ws.EAST, ws.SOUTH, ws.WEST, or ws.RAMP: the PE's own sends), the ports its words go to. Kernels then
move words with `ws.send(ws.RAMP, value, channel=c)` and `ws.recv(ws.RAMP, channel=c)`; the routers
forward them (multicast included) without PE instructions. Routes are relative to a block, so every
block of a grid gets the same ones. `ws.route(...)` inside a kernel changes one PE's route.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import ArgumentTypeError, RouteError, WaferError, flag_argument
from ..isa import routes as patterns
from ..isa.opcodes import ACCEPT, EAST, NORTH, PORTS, SOUTH, WEST
from ..isa.opcodes import port_mask as isa_port_mask

N_PORTS = len(PORTS)
#: Masks of named patterns kept per (pattern, block), last used last (`Route.masks`).
_PATTERN_MASKS: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
PATTERN_MASKS_KEPT = 16
Ports = int | Sequence[int]
Rules = Callable[[int, int], np.ndarray]


def port_mask(ports: Ports) -> int:
    """Bit mask of a port or a sequence of ports (`isa.opcodes.port_mask`), a `RouteError` otherwise."""
    try:
        return isa_port_mask(ports)
    except (TypeError, ValueError):
        raise RouteError(f"{ports!r} is not a port or ports: use ws.NORTH, ws.EAST, ws.SOUTH, ws.WEST or ws.RAMP"
                         ) from None


class Route:
    """One channel's route over a block: `rules(block_width, block_height)` gives a (5, height, width)
    uint8 array: for each input port, each PE's mask of output ports plus ACCEPT (32) where the input has
    a rule (ACCEPT alone: its words are dropped; 0: no rule, a word arriving there is an error)."""

    def __init__(self, channel: int, rules: Rules, name: str = "route", merge: bool = False) -> None:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or channel < 0:
            raise RouteError(f"{name}: channel must be a whole number >= 0, got {channel!r}", channel=channel)
        self.channel, self.rules, self.name = int(channel), rules, name
        self.merge = flag_argument(merge, f"{name}: merge")

    def masks(self, block: tuple[int, int]) -> np.ndarray:
        """The (5, by, bx) uint8 masks over a block, checked (read-only when kept for a named pattern)."""
        pure = any(self.rules is rules for rules, _ in patterns.NAMED.values())  # a function of the block only
        key = (self.rules, tuple(block))
        if pure and key in _PATTERN_MASKS:
            _PATTERN_MASKS.move_to_end(key)
            return _PATTERN_MASKS[key]
        masks = self._checked(block, fresh=pure)
        if pure:  # (a wafer-sized block's bus takes tens of ms to build and check: launches reuse it)
            masks.setflags(write=False)
            _PATTERN_MASKS[key] = masks
            while len(_PATTERN_MASKS) > PATTERN_MASKS_KEPT:
                _PATTERN_MASKS.popitem(last=False)
        return masks

    def _checked(self, block: tuple[int, int], fresh: bool = False) -> np.ndarray:
        """The rules' masks over `block`, checked, as a uint8 array of this route's own (`fresh`: the rules
        return a new array at every call, a named pattern's, which is then kept as it is, not copied)."""
        bx, by = block
        masks = np.asarray(self.rules(bx, by))
        if masks.shape != (N_PORTS, by, bx):
            raise RouteError(f"{self.name} (channel {self.channel}) gave masks of shape {masks.shape}, expected "
                             f"{(N_PORTS, by, bx)} for a {bx} x {by} block", channel=self.channel)
        if masks.min(initial=0) < 0 or masks.max(initial=0) >= 2 * ACCEPT:
            raise RouteError(f"{self.name} (channel {self.channel}): masks must be port masks (bits 0-4) plus "
                             f"ACCEPT (32)",
                             channel=self.channel)
        return masks.astype(np.uint8, copy=not fresh)

    def __repr__(self) -> str:
        return f"<route {self.name} on channel {self.channel}>"


def _check_root(name: str, root: int, size: int, axis: str) -> None:
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)):
        # (not "outside the block": root=0.0 or True would read as a position inside it)
        raise RouteError(f"{name}: root {axis} must be a whole number, a thread index from 0 to {size - 1}, got "
                         f"{root!r}", root=root)
    if not 0 <= root < size:
        raise RouteError(f"{name}: root {axis} = {root!r} is outside the block ({size} PEs along {axis})", root=root)


def row_broadcast(channel: int, root: int = 0, include_root: bool = False) -> Route:
    """Words the PE at column `root` of each block row sends reach every PE of its row (the root too, with
    `include_root`)."""
    include_root = flag_argument(include_root, "row_broadcast: include_root")

    def rules(bx: int, by: int) -> np.ndarray:
        _check_root("row_broadcast", root, bx, "x")
        masks = patterns.blank(bx, by)
        patterns.line_broadcast(masks, root, bx, EAST, WEST, lambda i: (slice(None), i), include_root)
        return masks
    return Route(channel, rules, "row_broadcast")


def column_broadcast(channel: int, root: int = 0, include_root: bool = False) -> Route:
    """Words the PE at row `root` of each block column sends reach every PE of its column."""
    include_root = flag_argument(include_root, "column_broadcast: include_root")

    def rules(bx: int, by: int) -> np.ndarray:
        _check_root("column_broadcast", root, by, "y")
        masks = patterns.blank(bx, by)
        patterns.line_broadcast(masks, root, by, SOUTH, NORTH, lambda i: (i, slice(None)), include_root)
        return masks
    return Route(channel, rules, "column_broadcast")


def broadcast(channel: int, root: tuple[int, int] = (0, 0), include_root: bool = False) -> Route:
    """Words the PE at `root` = (x, y) of a block sends reach every PE of the block: along the root's
    row, and from each PE of that row up and down its column."""
    include_root = flag_argument(include_root, "broadcast: include_root")

    def rules(bx: int, by: int) -> np.ndarray:
        rx, ry = _root_pair("broadcast", root)
        _check_root("broadcast", rx, bx, "x")
        _check_root("broadcast", ry, by, "y")
        masks = patterns.blank(bx, by)
        vertical = (1 << NORTH if ry > 0 else 0) | (1 << SOUTH if ry < by - 1 else 0)
        patterns.line_broadcast(masks, ry, by, SOUTH, NORTH, lambda i: (i, slice(None)), False, root_sends=False)
        patterns.line_broadcast(masks, rx, bx, EAST, WEST, lambda i: (ry, i), include_root, also=vertical)
        return masks
    return Route(channel, rules, "broadcast")


def named(channel: int, name: str) -> Route:
    """A pattern by name (`isa.routes.NAMED`: row_bus, column_bus, block_bus, chain_north, ...)."""
    if not isinstance(name, str) or name not in patterns.NAMED:  # (a list or dict: Python's "unhashable type")
        raise RouteError(f"no route pattern named {name!r}; known: {patterns.KNOWN}", name=name)
    rules, merge = patterns.NAMED[name]
    return Route(channel, rules, name, merge=merge)


def row_bus(channel: int) -> Route:
    """Any PE's words reach every other PE of its block row (several senders share the channel, in turn)."""
    return named(channel, "row_bus")


def column_bus(channel: int) -> Route:
    """Any PE's words reach every other PE of its block column."""
    return named(channel, "column_bus")


def block_bus(channel: int) -> Route:
    """Any PE's words reach every other PE of its block (along its row, then up and down the columns)."""
    return named(channel, "block_bus")


def _root_pair(name: str, root) -> tuple[int, int]:
    try:
        rx, ry = root
    except (TypeError, ValueError):
        raise RouteError(f"{name}: root must be an (x, y) pair, got {root!r}", root=root) from None
    return rx, ry


def chain(channel: int, direction: int) -> Route:
    """Every PE's words go one hop in `direction`, to the next PE's ramp (the last PE of each line has
    no route out): a neighbour send through the routers, as reduce chains use."""
    if isinstance(direction, bool) or not isinstance(direction, (int, np.integer)) or direction not in patterns.STEP:
        raise RouteError(f"chain: direction must be ws.NORTH, ws.EAST, ws.SOUTH or ws.WEST, got {direction!r}")
    return Route(channel, lambda bx, by: patterns.chain(bx, by, direction), "chain")


def custom(channel: int, rules: Callable[[int, int, int, int], Mapping[Ports, Ports]], merge: bool = False) -> Route:
    """A route from `rules(x, y, block_width, block_height)` -> {input port(s): output port(s)} per PE
    (a Python call per PE at launch: for small blocks or prototypes). `merge`: several PEs may send on
    the channel and share links (their words must reach each receiver in the order they are sent)."""
    if not callable(rules):
        raise ArgumentTypeError(f"custom: rules must be a function rules(x, y, block_width, block_height), got "
                                f"{rules!r}")

    def table(bx: int, by: int) -> np.ndarray:
        masks = patterns.blank(bx, by)
        # (input ports, output mask) of each rule already read, for rules whose ports are plain ints or tuples
        # of them (`_plain_ports`): a block's PEs repeat a few rules, and reading one took most of a launch's
        # time here (the routed 25-point stencil: 16 routes of 1,024 PEs a launch)
        known: dict[tuple, tuple[tuple[int, ...], int]] = {}
        for y in range(by):
            for x in range(bx):
                for rx, tx in _rule_table(rules, channel, x, y, bx, by).items():
                    key = (rx, tx) if _plain_ports(rx) and _plain_ports(tx) else None
                    rule = known.get(key) if key is not None else None
                    if rule is None:
                        rule = _read_rule(channel, rx, tx, x, y, bx, by)
                        if key is not None:
                            known[key] = rule
                    inputs, out = rule
                    for port in inputs:
                        masks[port, y, x] = out
        return masks
    return Route(channel, table, "custom", merge=merge)


def _plain_ports(ports) -> bool:
    """Whether `ports` is an int or a tuple of ints (their type exactly: a bool or a float equal to a port
    is not one, and must meet `port_mask`'s error, so no rule read earlier may stand for it)."""
    return type(ports) is int or (type(ports) is tuple and all(type(port) is int for port in ports))


def _read_rule(channel: int, rx, tx, x: int, y: int, bx: int, by: int) -> tuple[tuple[int, ...], int]:
    """A custom rule `rx: tx` of PE (x, y) as (its input ports, its output mask with ACCEPT), checked."""
    inputs, out = port_mask(rx), port_mask(tx) | ACCEPT
    if inputs == 0:  # (`()`: a rule for no input, which installed nothing, silently)
        raise RouteError(f"custom route on channel {channel}: rules({x}, {y}, {bx}, {by}) gives a "
                         f"rule for no input port, {rx!r}: name the port(s) its words arrive from "
                         f"(ws.RAMP for this PE's own sends); an empty tuple of outputs, (), drops "
                         f"them", channel=channel, pe=(x, y))
    return tuple(port for port in range(N_PORTS) if inputs >> port & 1), out


def _rule_table(rules: Callable, channel: int, x: int, y: int, bx: int, by: int) -> dict:
    """`rules(x, y, bx, by)` of a custom route as a dict; a rule that raises or returns no mapping is a
    `RouteError` naming it and the PE (it runs at launch, where a bare error would hide whose it is)."""
    try:
        table = rules(x, y, bx, by)
    except WaferError:
        raise
    except Exception as exc:
        raise RouteError(f"custom route on channel {channel}: rules({x}, {y}, {bx}, {by}) raised "
                         f"{type(exc).__name__}: {exc}", channel=channel, pe=(x, y)) from exc
    if type(table) is dict:  # (the usual form: a copy, as `dict` makes of any mapping)
        return table.copy()
    if not isinstance(table, Mapping):
        raise RouteError(f"custom route on channel {channel}: rules({x}, {y}, {bx}, {by}) returned {table!r}: it "
                         f"must return a dict {{input port(s): output port(s)}}", channel=channel, pe=(x, y))
    return dict(table)


def channels_needed(declared: Mapping[int, str], available: int) -> str:
    """The end of the error for a kernel whose declared routes pass the machine's channels: how many it needs
    in all (channel numbers from 0 up to its highest), and for a tree all-reduce why a lower `channel` alone
    does not help (it takes 2 rounds + 1 channels, or 4 rounds + 1 with stages_apart=1, whatever it starts at)."""
    highest = max(declared)
    text = f"; this kernel routes channels up to {highest}, so it needs channels={highest + 1} or more"
    if any(name.startswith("tree_") for name in declared.values()):
        trees = sum(name.startswith("tree_") for name in declared.values())
        text += (f" ({trees} of them for tree all-reduces, wsc.tree_channels(rounds) a tree"
                 + (f": more than the {available} there are whatever the channel they start at; algorithm=wsc.CHAIN "
                    f"takes 3" if trees > available else "") + ")")
    return text


def route_masks(routes: Iterable[Route] | Route | None, block: tuple[int, int], spec: WaferSpec,
                declared: Sequence[tuple[int, str]] = ()) -> dict[int, tuple[np.ndarray, bool]]:
    """The `routes=` launch option plus the routes the program declares (`ws.use_route`), as
    {channel: ((5, by, bx) masks, merge)}, checked."""
    if routes is None:
        routes = []
    elif isinstance(routes, Route):
        routes = [routes]
    elif isinstance(routes, str):  # (a string is iterable: its letters would be reported one by one)
        raise ArgumentTypeError(f"launch option routes must be a Route or a list of them (ws.routes.row_bus(...) "
                                f"and the like), got the string {routes!r}", option="routes")
    try:
        routes = list(routes)
    except TypeError:
        raise ArgumentTypeError(f"launch option routes must be a Route or a list of them, got {routes!r}",
                                option="routes") from None
    chosen: dict[int, Route] = {}
    for route in routes:
        if not isinstance(route, Route):
            raise ArgumentTypeError(f"launch option routes: expected ws.routes.* routes, got {route!r}",
                                    option="routes")
        if route.channel in chosen:
            raise RouteError(f"two routes for channel {route.channel}: give each channel one route",
                             channel=route.channel)
        chosen[route.channel] = route
    for channel, name in declared:
        given = chosen.get(channel)
        if given is not None and given.name != name:
            raise RouteError(f"the kernel routes channel {channel} as {name} (ws.use_route; `.route` in assembly), but "
                             f"the launch gives it "
                             f"{given!r}: use another channel for one of them", channel=channel)
        chosen[channel] = given or named(channel, name)
    out: dict[int, tuple[np.ndarray, bool]] = {}
    declared_channels, launch_channels = dict(declared), {route.channel for route in routes}
    for channel, route in chosen.items():
        if channel >= spec.channels:
            if channel in declared_channels and channel not in launch_channels:
                # (a collective declares its channels: `channel`, `channel + 1`, ... of its call)
                raise RouteError(f"the kernel routes channel {channel} as {declared_channels[channel]} (ws.use_route, or "
                                 f"`.route` in assembly, as a collective does for each of the channels it uses: channel=c takes c, c + 1, "
                                 f"...; docs/routes.md), but the machine has {spec.channels} channels "
                                 f"(0..{spec.channels - 1}): pass the collective a lower channel, or use a WaferSpec "
                                 f"with more (channels=){channels_needed(declared_channels, spec.channels)}",
                                 channel=channel)
            raise RouteError(f"{route!r}: the machine has {spec.channels} channels (0..{spec.channels - 1})",
                             channel=channel)
        out[channel] = (route.masks(block), route.merge)
    return out

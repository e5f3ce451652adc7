"""`Device.save` / `Device.load`: a device in one NumPy `.npz` file.

The file holds plain arrays only (it is read with `allow_pickle=False`, so loading a file runs no code):

- `meta`: a JSON document (a 0-d string array): the format name and version, the spec, the allocations
  (address, size, serial, and shape, dtype and name for device arrays), freed ranges, streams' clocks
  and logs, and each launch's scalar figures;
- `memory_<k>`: the bytes of the k-th live allocation, in address order;
- `launch_<k>_<field>`: the per-PE arrays of the k-th launch (`busy`, `stall`, `link_words`, ...), and
  `launch_<k>_routed_link_words_<channel>` its routed words per link of each channel;
- `pe_busy_until`: per PE, until when the launches so far hold it on the timeline (`runtime.occupancy`;
  absent where the device never launched, and in files written before it was kept).

Race reports (`stats.races`) are kept. Traces of traced launches (`stats.trace`) and the PE state of
`keep_state` launches (`stats.state`) are not: a loaded launch has `trace_not_saved` / `state_not_saved`
set instead, so it never looks untraced or stateless when it was not.

A file of another format version, or one that is truncated, corrupted, inconsistent or not a device file
at all (a `.npy` array, another archive), raises `CheckpointError`, as does metadata that does not match
the data (a dtype a device array cannot hold, a shape that does not fill its allocation, serials that
would mix arrays: `err.field` names the field). Files are
written to a temporary file of a unique name in the same folder and renamed over `path`, so concurrent
saves to one path leave one whole file.
"""
from __future__ import annotations

import dataclasses
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..arch.spec import WaferSpec
from ..arch.values import is_integer
from ..errors import (ArgumentTypeError, CheckpointError, LaunchError, WaferError, output_path, path_argument,
                      write_whole)
from ..isa import halfprec
from ..sim.memory import ALIGNMENT, FIRST_ADDRESS, Allocation, GlobalMemory
from ..sim.racecheck import ROUTE_CHANGE, ROUTE_SEND, RaceAccess, RaceHazard
from ..sim.stats import LaunchStats, PrintRecord
from .arrays import device_dtype, device_itemsize

if TYPE_CHECKING:
    from .device import Device, DeviceArray

FORMAT = "wafersim.device"
FORMAT_VERSION = 1
#: LaunchStats fields not kept as such: the spec is the device's, traces and PE state are not saved (their
#: `*_not_saved` flags are), race reports are written by `_race_record`
SKIPPED_STATS_FIELDS = {"spec", "trace", "state", "races"}
#: a default array name (`Device.arrays`): the array's address in hex
ADDRESS_NAME = re.compile(r"0x[0-9a-f]+")
TUPLE_STATS_FIELDS = {"grid", "block"}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _stats_record(stats: LaunchStats, index: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The JSON part of one launch; its per-PE arrays go into `arrays`. Fields that are neither arrays nor
    JSON values are left out (and take their defaults on load)."""
    record: dict[str, Any] = {}
    for field in dataclasses.fields(stats):
        value = getattr(stats, field.name)
        if field.name in SKIPPED_STATS_FIELDS:
            continue
        if isinstance(value, np.ndarray):
            arrays[f"launch_{index}_{field.name}"] = value
            record[field.name] = {"array": f"launch_{index}_{field.name}"}
        elif field.name == "prints":
            record["prints"] = [dataclasses.astuple(p) for p in value]
        elif field.name == "routed_link_words":  # channel -> per-link array: one array each, keyed by channel
            for channel, words in value.items():
                arrays[f"launch_{index}_routed_link_words_{channel}"] = words
            record[field.name] = {str(channel): {"array": f"launch_{index}_routed_link_words_{channel}"}
                                  for channel in value}
        else:
            try:
                json.dumps(value, default=_json_default)
            except (TypeError, ValueError):
                continue
            record[field.name] = value
    record["trace_not_saved"] = stats.trace is not None or stats.trace_not_saved  # to_perfetto says so
    record["state_not_saved"] = stats.state is not None or stats.state_not_saved  # summary() says so
    record["races"] = [_race_record(race) for race in stats.races]
    return record


def _access_record(access: RaceAccess) -> list:
    return [list(access.block_index), list(access.thread_index), access.pc,
            list(access.source) if access.source else None, access.cycle, access.write]


def _race_record(race: RaceHazard) -> dict[str, Any]:
    """One race report as JSON (`RaceHazard`, its two `RaceAccess`es)."""
    record = {"address": race.address, "first": _access_record(race.first), "second": _access_record(race.second),
              "count": race.count, "same_value": race.same_value}
    if race.channel is not None:  # a route-change race
        record.update(channel=race.channel, sent_first=race.sent_first)
    return record


def _access_of(entry: list) -> RaceAccess:
    block, thread, pc, source, cycle, write = entry
    return RaceAccess(tuple(block), tuple(thread), pc, tuple(source) if source else None, cycle, write)


def _race_of(entry: dict[str, Any]) -> RaceHazard:
    # (files written before same-value races were told apart have no "same_value": all were races)
    first, second, channel = _access_of(entry["first"]), _access_of(entry["second"]), entry.get("channel")
    if channel is not None:  # a route-change race: its sides are the change and the send (not saved: implied)
        first = dataclasses.replace(first, route=ROUTE_CHANGE, channel=channel)
        second = dataclasses.replace(second, route=ROUTE_SEND, channel=channel)
    return RaceHazard(entry["address"], first, second, entry["count"], bool(entry.get("same_value", False)), channel,
                      bool(entry.get("sent_first", False)))


def _named(device: "Device", arrays: Mapping[str, "DeviceArray"]) -> dict[int, str]:
    """Allocation serial -> name, for the arrays the caller named."""
    from .device import DeviceArray

    if not isinstance(arrays, Mapping):
        raise ArgumentTypeError(f"save: arrays must be a mapping of names to device arrays, got {type(arrays).__name__}")
    names: dict[int, str] = {}
    for name, array in arrays.items():
        if not isinstance(name, str) or not name:
            raise ArgumentTypeError(f"save: array names must be non-empty strings, got {name!r}")
        if not isinstance(array, DeviceArray):
            raise ArgumentTypeError(f"save: {name!r} is a {type(array).__name__}, not a DeviceArray")
        alloc = device._own(array, f"save {name!r}")
        if alloc.serial in names:
            raise LaunchError(f"save: {name!r} and {names[alloc.serial]!r} are the same device array")
        names[alloc.serial] = name
    return names


def _check_names(names: dict[int, tuple[str, int]], what: str, error: type[WaferError], **extra: Any) -> None:
    """Refuse array names that `Device.arrays` could not tell apart: `names` maps each named allocation's
    serial to (name, base). A name may not be another array's (nor any address but the array's own: an
    unnamed array is known by its address, `0x...`, and one allocated later may take that address)."""
    seen: dict[str, int] = {}
    for name, base in names.values():
        if ADDRESS_NAME.fullmatch(name) and name != f"0x{base:x}":
            raise error(f"{what}: the array at 0x{base:x} is named {name!r}, the name the array at that address "
                        f"has when unnamed (Device.arrays): choose a name that is not an address", name=name, **extra)
        if name in seen:
            raise error(f"{what}: the arrays at 0x{seen[name]:x} and 0x{base:x} are both named {name!r}", name=name,
                        **extra)
        seen[name] = base


def device_data(device: "Device", arrays: Mapping[str, "DeviceArray"]) -> dict[str, np.ndarray]:
    """The arrays of `device`'s file (see the module's docstring), its JSON `meta` among them, named by
    `arrays` (a mapping of names to `device`'s arrays); `write_npz` writes them."""
    names = _named(device, arrays)
    final: dict[int, tuple[str, int]] = {}  # serial -> (name, base), for `_check_names`
    data: dict[str, np.ndarray] = {}
    allocations = []
    for k, alloc in enumerate(device.memory.allocations()):
        data[f"memory_{k}"] = alloc.storage
        entry: dict[str, Any] = {"base": alloc.base, "size": alloc.size, "serial": alloc.serial}
        layout = device._array_layouts.get(alloc.serial)
        if layout is not None:
            # bfloat16's `.str` is a bare 2-byte void ('<V2'): its name reads back (ml_dtypes registers it)
            dtype_text = layout[1].name if halfprec.is_half(layout[1]) else layout[1].str
            entry["shape"], entry["dtype"] = list(layout[0]), dtype_text
            name = names.get(alloc.serial, device._array_names.get(alloc.serial))
            if name is not None:
                entry["name"] = name
                final[alloc.serial] = (name, alloc.base)
        allocations.append(entry)
    _check_names(final, "save", LaunchError)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": device.spec.to_dict(),
        "trace": bool(device.trace),
        "allocations": allocations,
        "freed": [[base, size] for base, size in device.memory.freed.items()],
        "next_serial": device.memory.next_serial,
        "streams": [{"name": s.name, "time": s.time, "log": [list(entry) for entry in s.log]} for s in device.streams],
        "stream_count": device._streams,
        "launches": [_stats_record(stats, k, data) for k, stats in enumerate(device.launches)],
    }
    if device.occupancy.until is not None:  # until when each PE is held by a launch (none launched: no entry)
        data["pe_busy_until"] = device.occupancy.until
    data["meta"] = np.array(json.dumps(meta, default=_json_default))
    return data


def save_device(device: "Device", path: str | Path, arrays: Mapping[str, "DeviceArray"]) -> Path:
    """Write `device` to `path` (see the module's docstring); returns the path."""
    path = output_path(path, "path", error=CheckpointError)  # (a folder, or a missing one: refused first)
    return write_npz(Path(path), device_data(device, arrays))


#: What each format of wafersim's files is, for errors that name a file of another
FORMAT_NAMES = {FORMAT: "device file (read it with ws.Device.load)",
                "wafersim.training": "training checkpoint (read it with a trainer's load_checkpoint)"}


def write_npz(path: Path, data: dict[str, np.ndarray]) -> Path:
    """Write the arrays `data` (a JSON `meta` among them) to `path` as one compressed `.npz`, whole
    (`errors.write_whole`: a temporary file renamed, so a crash leaves no half file and concurrent saves
    each a whole one). A `CheckpointError` if it cannot be written. Every wafersim file format (devices,
    launch and training checkpoints) is one."""
    # (`write_whole` hands NumPy a file object, so it does not add ".npz" to the name)
    return write_whole(path, lambda fh: np.savez_compressed(fh, **data), CheckpointError, str(path))


def read_npz(path: Path, format_name: str, version: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The meta document and every array of a file of `format_name` at format `version`, all read (so that
    any damage shows here): a `CheckpointError` for a missing, truncated, corrupted or foreign file (one
    of another wafersim format says which it is), or another version."""
    what = FORMAT_NAMES.get(format_name, format_name).split(" (")[0]
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a `.npy` file: one array, no meta
            raise CheckpointError(f"{path}: a single NumPy array ({loaded.dtype} {loaded.shape}, a .npy file), not "
                                  f"a wafersim {what} (a .npz archive)", path=str(path))
        with loaded as npz:
            data = {name: npz[name] for name in npz.files}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file", path=str(path)) from None
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # (NumPy reads a file that is no archive as a pickle, and refuses it with advice that does not apply)
        why = "not a NumPy .npz archive" if "allow_pickle" in str(exc) else str(exc)
        raise CheckpointError(f"{path}: not a readable wafersim {what} (truncated or corrupted?): {why}",
                              path=str(path)) from None
    if "meta" not in data:
        raise CheckpointError(f"{path}: not a wafersim {what} (no meta entry)", path=str(path))
    try:
        meta = json.loads(str(data["meta"][()]))
    except (ValueError, TypeError, IndexError) as exc:
        raise CheckpointError(f"{path}: the meta entry is not valid JSON: {exc}", path=str(path)) from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != format_name:
        other = f": it is a wafersim {FORMAT_NAMES[found]}" if found in FORMAT_NAMES else ""
        raise CheckpointError(f"{path}: not a wafersim {what} (format {found!r}){other}", path=str(path),
                              format=found)
    if meta.get("format_version") != version:
        raise CheckpointError(f"{path}: {what} format version {meta.get('format_version')!r}; this wafersim "
                              f"reads version {version}", path=str(path), version=meta.get("format_version"),
                              supported=version)
    return meta, data


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The meta document and every array of a device file (`read_npz`)."""
    return read_npz(path, FORMAT, FORMAT_VERSION)


def _restore_stats(record: dict[str, Any], spec: WaferSpec, data: dict[str, np.ndarray]) -> LaunchStats:
    """One launch's `LaunchStats` from its JSON record and the file's arrays."""
    known = {field.name for field in dataclasses.fields(LaunchStats)}
    values: dict[str, Any] = {"spec": spec}
    for name, value in record.items():
        if name not in known:
            continue  # a field a later wafersim wrote and this one does not have
        if isinstance(value, dict) and set(value) == {"array"}:
            value = data[value["array"]]
        elif name == "prints":
            value = [PrintRecord(*p) for p in value]
        elif name == "routed_link_words":
            value = {int(channel): data[entry["array"]] for channel, entry in value.items()}
        elif name in TUPLE_STATS_FIELDS:
            value = tuple(value)
        elif name == "races":
            value = [_race_of(entry) for entry in value]
        values[name] = value
    return LaunchStats(**values)


def _check_layout(allocations: list[Allocation], capacity: int, path: Path) -> None:
    """Allocations in address order, aligned, apart from each other and inside device memory."""
    end = FIRST_ADDRESS
    for alloc in allocations:
        if alloc.base < end or alloc.base % ALIGNMENT or alloc.size <= 0 or alloc.end > capacity:
            raise CheckpointError(f"{path}: the allocation at 0x{alloc.base:x} ({alloc.size} bytes) overlaps another "
                                  f"or lies outside device memory", path=str(path))
        end = alloc.end


def _check_serials(allocations: list[Allocation], next_serial: Any, path: Path) -> None:
    """Serials (what array layouts and names are keyed by) that tell allocations apart now and later: each
    a distinct whole number >= 1, and `next_serial`, the next allocation's, above them all (a smaller one,
    hand-edited, would give a new array the layout and name of a loaded one)."""
    seen: set[int] = set()
    for k, alloc in enumerate(allocations):
        serial = alloc.serial
        if not is_integer(serial) or serial < 1 or serial in seen:
            raise CheckpointError(f"{path}: allocations[{k}].serial is {serial!r}, not a whole number >= 1 that "
                                  f"no other allocation has", path=str(path), field="serial")
        seen.add(serial)
    if not is_integer(next_serial) or next_serial <= max(seen, default=0):
        raise CheckpointError(f"{path}: next_serial is {next_serial!r}, not a whole number above every "
                              f"allocation's serial (the largest is {max(seen, default=0)}): restore the saved "
                              f"value", path=str(path), field="next_serial")


def _layout(entry: dict[str, Any], k: int, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of the device array in allocation `entry` (the k-th): a `CheckpointError` naming
    the field if the dtype is not one a device array holds or the shape does not fill the allocation."""
    where = f"{path}: allocations[{k}]"
    shape = entry["shape"]
    if not isinstance(shape, list) or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in shape):
        raise CheckpointError(f"{where}.shape is {shape!r}, not a list of non-negative ints", path=str(path),
                              field="shape")
    try:
        if not isinstance(entry["dtype"], str):
            raise TypeError(entry["dtype"])
        dtype = device_dtype(halfprec.as_dtype(entry["dtype"]), "load")
    except (TypeError, WaferError):
        raise CheckpointError(f"{where}.dtype is {entry['dtype']!r}, not a dtype a device array holds",
                              path=str(path), field="dtype") from None
    count = int(np.prod(shape, dtype=object))
    nbytes = max(count * device_itemsize(dtype), 1)
    if nbytes != entry["size"]:
        # Which of the two was edited cannot be known for sure: blame the dtype where the shape fills the
        # allocation with elements of a whole number of bytes a dtype has (a float32 array saved as '<f8'),
        # else the shape
        fits = count > 0 and entry["size"] % count == 0 and entry["size"] // count in (1, 2, 4, 8, 16)
        field, other = ("dtype", "shape") if fits else ("shape", "dtype")
        raise CheckpointError(f"{where}: its shape {shape} and dtype {entry['dtype']!r} take {nbytes} bytes, but "
                              f"its allocation (size) has {entry['size']}: the {field} (or the {other}) does not "
                              f"match the data", path=str(path), field=field)
    return tuple(shape), dtype


def load_device(cls: type["Device"], path: str | Path) -> "Device":
    """The device saved at `path` (see `Device.load`)."""
    path = path_argument(path, "path")
    meta, data = _read(path)
    return device_from(cls, meta, data, path)


def device_from(cls: type["Device"], meta: dict[str, Any], data: dict[str, np.ndarray], path: Path) -> "Device":
    """The device of a device file's `meta` and arrays (`read_npz`), read from `path` (for errors)."""
    from .device import Stream

    try:
        device = cls(WaferSpec.from_dict(meta["spec"]))
        allocations, layouts, names = [], {}, {}
        for k, entry in enumerate(meta["allocations"]):
            storage = data[f"memory_{k}"]
            if storage.dtype != np.uint8 or storage.shape != (-(-entry["size"] // 4) * 4,):
                raise CheckpointError(f"{path}: memory_{k} holds {storage.shape} {storage.dtype}, not the "
                                      f"{entry['size']} bytes of its allocation", path=str(path))
            allocations.append(Allocation(entry["base"], entry["size"], storage, entry["serial"]))
            if "shape" in entry:
                layouts[entry["serial"]] = _layout(entry, k, path)
            if "name" in entry:
                if not isinstance(entry["name"], str) or not entry["name"] or "shape" not in entry:
                    raise CheckpointError(f"{path}: allocations[{k}].name is {entry['name']!r}, not the name of "
                                          f"a device array", path=str(path), field="name")
                names[entry["serial"]] = entry["name"]
        _check_layout(allocations, device.spec.global_bytes, path)
        _check_serials(allocations, meta["next_serial"], path)
        _check_names({a.serial: (names[a.serial], a.base) for a in allocations if a.serial in names},
                     f"{path}", CheckpointError, path=str(path))
        device.memory = GlobalMemory.restore(device.spec.global_bytes, allocations,
                                             {base: size for base, size in meta["freed"]}, meta["next_serial"])
        device._array_layouts, device._array_names = layouts, names
        device.streams = []
        for saved in meta["streams"]:
            stream = Stream(device, saved["name"])
            stream.time, stream.log = saved["time"], [tuple(entry) for entry in saved["log"]]
            device.streams.append(stream)
        device.default_stream = device.streams[0]
        device._streams = meta["stream_count"]
        device.trace = meta["trace"]
        device.launches = [_restore_stats(record, device.spec, data) for record in meta["launches"]]
        # (a file of a version before PE occupancy has none: its launches then hold no PEs)
        device.occupancy.copy_from(data.get("pe_busy_until"))
    except CheckpointError:
        raise
    except WaferError as exc:  # e.g. a spec this version refuses
        raise CheckpointError(f"{path}: {exc}", path=str(path)) from exc
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: inconsistent wafersim device file ({type(exc).__name__}: {exc})",
                              path=str(path)) from None
    return device

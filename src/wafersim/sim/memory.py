"""Device (off-wafer) memory: an address space with lazily backed allocations.

Addresses are byte addresses. Kernels hold them in 32-bit registers, so an array a kernel touches must
lie below 4 GiB; the allocator hands out the lowest free addresses first. Storage is a NumPy buffer per
allocation (zero pages are not touched until written), so 1.5 TB of capacity costs nothing until used.
"""
from __future__ import annotations

import bisect
import contextlib
import dataclasses
from typing import Iterator

import numpy as np

from ..errors import InvalidPointerError, OutOfMemoryError
from .hostmem import populate_in_background

ALIGNMENT = 256  # like cudaMalloc: every allocation starts on a 256-byte boundary
FIRST_ADDRESS = ALIGNMENT  # address 0 stays unused, so a zero pointer is never valid
KERNEL_ADDRESS_LIMIT = 1 << 32
#: A strided store's undo record may keep the words between its rows too, up to this many times its own words
#: (`GlobalMemory.rows_view`: one copy of a block, where the words one by one cost an index array and a sort).
GAP_WORDS = 4


@dataclasses.dataclass
class Allocation:
    base: int
    size: int
    storage: np.ndarray  # uint8, len = size rounded up to 4
    # Unique per device: a pointer to a freed allocation whose address was handed out again does not
    # match the new allocation's serial, so stale pointers are caught instead of aliasing new memory.
    serial: int = 0

    @property
    def end(self) -> int:
        return self.base + self.size

    def words(self) -> np.ndarray:
        return self.storage.view(np.int32)


class GlobalMemory:
    """Allocations of one device, by base address."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._bases: list[int] = []  # sorted
        self._allocs: dict[int, Allocation] = {}
        self.freed: dict[int, int] = {}  # base -> size of allocations freed (to name use-after-free)
        # (allocation base, word indices, the words they held) of each store inside `undo_on_error`
        self._journal: list[tuple[int, np.ndarray, np.ndarray]] | None = None
        self.next_serial = 1

    @property
    def used_bytes(self) -> int:
        return sum(a.size for a in self._allocs.values())

    @property
    def free_bytes(self) -> int:
        """Bytes still allocatable (address 0's reserved range and alignment padding excluded)."""
        taken = sum(-(-a.size // ALIGNMENT) * ALIGNMENT for a in self._allocs.values())
        return max(self.capacity - FIRST_ADDRESS - taken, 0)

    def allocate(self, nbytes: int) -> Allocation:
        """The lowest free aligned range of `nbytes` (first fit)."""
        if nbytes <= 0:
            raise OutOfMemoryError(f"cannot allocate {nbytes} bytes: the size must be positive", requested=nbytes)
        span = -(-nbytes // ALIGNMENT) * ALIGNMENT
        cursor = FIRST_ADDRESS
        for base in self._bases:
            if base - cursor >= span:
                break
            alloc = self._allocs[base]
            cursor = alloc.base + -(-alloc.size // ALIGNMENT) * ALIGNMENT
        if cursor + span > self.capacity:
            raise OutOfMemoryError(
                f"device memory exhausted: asked for {nbytes:,} bytes, {self.free_bytes:,} of "
                f"{self.capacity:,} free (in ranges of 256-byte granules; the largest free range may be smaller)",
                requested=nbytes, available=self.free_bytes, capacity=self.capacity, exhausted=True)
        try:  # zero pages cost nothing until written, but the host may still refuse the reservation
            storage = np.zeros(-(-nbytes // 4) * 4, dtype=np.uint8)
            populate_in_background(storage)  # (a large one: its pages mapped in ahead of the copies into it)
        except MemoryError:
            raise OutOfMemoryError(
                f"the host cannot back a {nbytes:,}-byte device allocation (device memory has {self.free_bytes:,} "
                f"bytes free, but the simulator keeps device memory in host memory)", requested=nbytes,
                available=self.free_bytes, capacity=self.capacity) from None
        alloc = Allocation(cursor, nbytes, storage, self.next_serial)
        self.next_serial += 1
        self._insert(alloc)
        return alloc

    def _insert(self, alloc: Allocation) -> None:
        bisect.insort(self._bases, alloc.base)
        self._allocs[alloc.base] = alloc
        self.freed.pop(alloc.base, None)

    def allocations(self) -> list[Allocation]:
        """The live allocations, by address."""
        return [self._allocs[base] for base in self._bases]

    def lookup(self, base: int) -> Allocation | None:
        """The live allocation starting at `base`, or None."""
        return self._allocs.get(base)

    @classmethod
    def restore(cls, capacity: int, allocations: list[Allocation], freed: dict[int, int],
                next_serial: int) -> "GlobalMemory":
        """A memory holding exactly these allocations (as `allocations()` listed them, storage included),
        with the record of freed ranges and the next serial (used by `Device.load`)."""
        memory = cls(capacity)
        for alloc in allocations:
            memory._insert(alloc)
        memory.freed = dict(freed)
        for alloc in allocations:
            memory.freed.pop(alloc.base, None)
        memory.next_serial = next_serial
        return memory

    def free(self, base: int) -> None:
        alloc = self._allocs.pop(base, None)
        if alloc is None:
            if base in self.freed:
                raise InvalidPointerError(f"double free of device address 0x{base:x}", address=base)
            raise InvalidPointerError(f"device address 0x{base:x} is not the start of an allocation of this device",
                                      address=base)
        self._bases.remove(base)
        self.freed[base] = alloc.size

    def get(self, base: int) -> Allocation:
        alloc = self._allocs.get(base)
        if alloc is None:
            state = "was freed" if base in self.freed else "is not an allocation of this device"
            raise InvalidPointerError(f"device address 0x{base:x} {state}", address=base)
        return alloc

    @contextlib.contextmanager
    def undo_on_error(self) -> Iterator[None]:
        """Stores made inside the block are undone if it raises: a failed launch leaves memory as it was.

        Each store keeps the words it overwrites (memory proportional to the words stored, not to the
        allocations touched); on an error they are put back in reverse order, so a word stored twice
        gets its value from before the block. Blocks nest: an inner block that succeeds hands its
        record to the enclosing one."""
        outer, self._journal = self._journal, []
        try:
            yield
        except BaseException:
            for base, index, old in reversed(self._journal):
                self._allocs[base].words()[index] = old
            raise
        else:
            if outer is not None:
                outer.extend(self._journal)
        finally:
            self._journal = outer

    # ------------------------------------------------------------------ vectorized word access for the engine
    def locate(self, addresses: np.ndarray, nbytes: np.ndarray | int = 4):
        """For byte addresses (int64), the allocation base of each and whether [addr, addr+nbytes) is valid.

        The base comes back as an int when every access lies in one allocation (the common case)."""
        if addresses.size:
            low, high = int(addresses.min()), int((addresses + nbytes).max())
            k = bisect.bisect_right(self._bases, low) - 1
            if k >= 0 and high <= self._allocs[self._bases[k]].end and not (addresses & 3).any():
                return self._bases[k], np.ones(addresses.shape, dtype=bool)
        bases = np.asarray(self._bases, dtype=np.int64)
        if len(bases) == 0:
            return np.zeros_like(addresses), np.zeros(addresses.shape, dtype=bool)
        k = np.searchsorted(bases, addresses, side="right") - 1
        k_safe = np.maximum(k, 0)
        ends = np.asarray([self._allocs[b].end for b in self._bases], dtype=np.int64)
        ok = (k >= 0) & (addresses + nbytes <= ends[k_safe]) & (addresses % 4 == 0) & (addresses >= 0)
        return bases[k_safe], ok

    def describe_address(self, address: int) -> str:
        """Why an address is not valid, for error messages."""
        if address % 4:
            return f"address 0x{address:x} is not 4-byte aligned"
        for base, size in self.freed.items():
            if base <= address < base + size:
                return f"address 0x{address:x} lies in freed memory (the allocation at 0x{base:x}, {size} bytes)"
        k = bisect.bisect_right(self._bases, address) - 1
        # (a negative index lands just below its array: name the allocation above too, when there is one)
        above = (f", and {self._bases[k + 1] - address} bytes before the allocation at 0x{self._bases[k + 1]:x} "
                 f"({self._allocs[self._bases[k + 1]].size} bytes)") if k + 1 < len(self._bases) else ""
        if k >= 0:
            alloc = self._allocs[self._bases[k]]
            if address < alloc.end:
                return f"address 0x{address:x} runs past the end of the allocation at 0x{alloc.base:x} ({alloc.size} bytes)"
            return (f"address 0x{address:x} is {address - alloc.end} bytes past the end of the allocation at "
                    f"0x{alloc.base:x} ({alloc.size} bytes){above}")
        return f"address 0x{address:x} is below every allocation{above}"

    def gather_words(self, addresses: np.ndarray, bases: np.ndarray | int) -> np.ndarray:
        """int32 words at valid, located byte addresses."""
        if isinstance(bases, int):
            return self._allocs[bases].words()[(addresses - bases) >> 2]
        out = np.empty(addresses.shape, dtype=np.int32)
        for base in np.unique(bases):
            sel = bases == base
            out[sel] = self._allocs[int(base)].words()[(addresses[sel] - base) >> 2]
        return out

    def rows_view(self, base: int, first: int, rows: int, stride: int, words: int, store: bool,
                  lean: bool = False, gaps: bool = False) -> np.ndarray | None:
        """The (rows, words) int32 view of `words` words at byte addresses first + r * stride (r < rows), all
        in the allocation at `base` (already located and checked), for strided bulk copies. For a `store`
        inside `undo_on_error`, the words it will overwrite are kept first, as one contiguous block: with
        `gaps`, the block from the first row to the last, the words between rows too (at most `GAP_WORDS`
        times the rows' own, else None), which the undo puts back as they were; without, None for gaps
        between rows (then `scatter_words` keeps the words); `lean`: words that are all zero (a fresh output
        array) are kept as a zero array, which maps no memory unless an error puts it back."""
        flat = self._allocs[base].words()
        start = (first - base) >> 2
        if store and self._journal is not None:
            size = (rows - 1) * (stride >> 2) + words
            if stride != 4 * words and not (gaps and size <= GAP_WORDS * rows * words):
                return None
            block = slice(start, start + size)
            old = flat[block]
            kept = np.zeros(len(old), dtype=old.dtype) if lean and not old.any() else old.copy()
            self._journal.append((base, block, kept))
        return np.lib.stride_tricks.as_strided(flat[start:], shape=(rows, words), strides=(stride, flat.itemsize),
                                               writeable=True)

    def scatter_words(self, addresses: np.ndarray, bases: np.ndarray, values: np.ndarray) -> None:
        """Store int32 words at valid byte addresses; for equal addresses the last lane wins."""
        if isinstance(bases, int):
            self.store_indices(bases, (addresses - bases) >> 2, values)
            return
        for base in np.unique(bases):
            sel = bases == base
            self.store_indices(int(base), (addresses[sel] - base) >> 2, values[sel])

    def store_indices(self, base: int, index: np.ndarray | slice, values: np.ndarray) -> None:
        """Store int32 `values` at the words `index` (indices or a slice) of the allocation at `base` (kept for
        `undo_on_error`)."""
        words = self._allocs[base].words()
        if self._journal is not None:  # (the old words: fancy indexing copies, a slice views)
            self._journal.append((base, index, words[index].copy() if isinstance(index, slice) else words[index]))
        words[index] = values

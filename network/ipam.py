"""Free space inside a parent prefix, and the strategies that carve children from it.

- `first_fit`: the lowest aligned block (subnets inside a department: predictable, dense).
- `best_fit`: the smallest free run that holds the block, lowest first (scarce IPv4 pools:
  large runs stay whole for large requests).
- `sparse`: children of one length spread out by bit-reversed slot order (RFC 3531's
  "leftmost" bits grow from the left), so that each neighbour can later grow into a larger
  block without renumbering (RIPE-690 section 4.2).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from network.prefixes import Prefix


class SpaceExhaustedError(Exception):
    """No free aligned block of the requested length is left in the parent."""


def bit_reversed(index: int, width: int) -> int:
    """`index` with its lowest `width` bits in reverse order (0, 4, 2, 6, 1, 5, 3, 7 for 3)."""
    result = 0
    for _ in range(width):
        result = (result << 1) | (index & 1)
        index >>= 1
    return result


class FreeSpace:
    """Disjoint free address runs [start, end] inside one parent, kept sorted."""

    def __init__(self, parent: Prefix, used: Iterable[Prefix] = ()) -> None:
        self.parent = parent
        self._starts: list[int] = [parent.first]
        self._ends: list[int] = [parent.last]
        for prefix in sorted(used):
            self.take(prefix)

    def runs(self) -> Iterator[tuple[int, int]]:
        """The free runs, lowest first."""
        return zip(self._starts, self._ends, strict=True)

    @property
    def free_addresses(self) -> int:
        """How many addresses are free."""
        return sum(end - start + 1 for start, end in self.runs())

    def is_free(self, prefix: Prefix) -> bool:
        """True when the whole prefix is free."""
        position = bisect.bisect_right(self._starts, prefix.first) - 1
        return position >= 0 and self._ends[position] >= prefix.last

    def take(self, prefix: Prefix) -> None:
        """Mark a prefix as used; the parts of it already used are ignored."""
        if not self.parent.contains(prefix):
            raise ValueError(f"{prefix} is not inside {self.parent}")
        low, high = prefix.first, prefix.last
        position = max(bisect.bisect_right(self._starts, low) - 1, 0)
        while position < len(self._starts) and self._starts[position] <= high:
            start, end = self._starts[position], self._ends[position]
            if end < low:
                position += 1
                continue
            pieces = [(s, e) for s, e in ((start, low - 1), (high + 1, end)) if s <= e]
            self._starts[position : position + 1] = [s for s, _ in pieces]
            self._ends[position : position + 1] = [e for _, e in pieces]
            position += len(pieces)

    def _aligned_in(self, start: int, end: int, size: int) -> int | None:
        offset = start - self.parent.first
        aligned = self.parent.first + -(-offset // size) * size
        return aligned if aligned + size - 1 <= end else None

    def first_fit(self, length: int) -> Prefix:
        """Take the lowest free aligned block of this length."""
        size = 1 << (self.parent.bits - length)
        for start, end in self.runs():
            aligned = self._aligned_in(start, end, size)
            if aligned is not None:
                return self._take_block(aligned, length)
        raise SpaceExhaustedError(f"no free /{length} left in {self.parent}")

    def best_fit(self, length: int) -> Prefix:
        """Take an aligned block from the smallest free run that holds it."""
        size = 1 << (self.parent.bits - length)
        best: tuple[int, int] | None = None
        for start, end in self.runs():
            aligned = self._aligned_in(start, end, size)
            if aligned is not None and (best is None or end - start < best[0]):
                best = (end - start, aligned)
        if best is None:
            raise SpaceExhaustedError(f"no free /{length} left in {self.parent}")
        return self._take_block(best[1], length)

    def _take_block(self, first: int, length: int) -> Prefix:
        block = Prefix(self.parent.family, first, length)
        self.take(block)
        return block


class SparseSlots:
    """Children of one length, handed out in bit-reversed order so neighbours can grow."""

    def __init__(self, space: FreeSpace, length: int) -> None:
        self.space = space
        self.length = length
        self.width = length - space.parent.length
        self._cursor = 0

    def allocate(self) -> Prefix:
        """Take the next free slot in sparse order."""
        count = 1 << self.width
        while self._cursor < count:
            slot = bit_reversed(self._cursor, self.width)
            self._cursor += 1
            candidate = self.space.parent.subnet(self.length, slot)
            if self.space.is_free(candidate):
                self.space.take(candidate)
                return candidate
        raise SpaceExhaustedError(f"no free /{self.length} left in {self.space.parent}")

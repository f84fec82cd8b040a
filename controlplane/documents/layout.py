"""The Redis copy's compressed body, cut into pieces, so that one changed flag costs one piece.

A document's canonical JSON is a head, its flag entries, a middle, its segment entries and a
tail (``assembly.frame``). The entries of each kind are cut, in key order, into *chunks*: a chunk
starts at the kind's first key and at every *cut key* (one whose CRC-32 is a multiple of
``CHUNK_ENTRIES``), so the cuts depend on the keys alone and the same entries always give the
same chunks, however they were reached. Every piece is compressed on its own as a deflate
segment (``assembly.deflate_segment``), and the compressed body is the segments in order, with a
compressed "," between two chunks of a kind. Publishing a change re-compresses the chunks that
hold a changed key and the tail (which carries the version); every other segment is copied.

The *manifest* lists the pieces in order (kind, first key, compressed length, raw length), so
that a copy can be cut back into its pieces. Pure functions over bytes: no I/O, no Django.
"""

from __future__ import annotations

import json
import zlib
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controlplane.documents import assembly

CHUNK_ENTRIES = 256
"""Entries per chunk, on average: bigger compresses better, smaller re-compresses less."""
KINDS = ("flag", "segment")
"""``Fragment.Kind`` values, in the order their entries appear in the document."""
SEPARATOR = ","
Entries = dict[str, str]
"""Key -> the entry's canonical JSON."""
Range = tuple[str | None, str | None]
"""Keys from the first (None: the lowest) up to, not including, the second (None: no end)."""


@dataclass(frozen=True)
class Piece:
    kind: str
    """A chunk's ``KINDS`` value, or head, middle, tail, or SEPARATOR."""
    first: str
    """A chunk's first key ("" for other pieces)."""
    segment: bytes
    size: int
    """Bytes of the piece uncompressed."""


def piece(kind: str, text: str, first: str = "") -> Piece:
    raw = text.encode()
    return Piece(kind, first, assembly.deflate_segment(raw), len(raw))


_SEPARATOR = piece(SEPARATOR, SEPARATOR)


def is_cut(key: str) -> bool:
    return zlib.crc32(key.encode()) % CHUNK_ENTRIES == 0


def chunks(kind: str, entries: Entries) -> list[Piece]:
    """The chunks of these entries, compressed."""
    cut: list[tuple[str, list[str]]] = []
    for key in sorted(entries):
        if not cut or is_cut(key):
            cut.append((key, []))
        cut[-1][1].append(assembly.member(key, entries[key]))
    return [piece(kind, ",".join(members), first) for first, members in cut]


@dataclass(frozen=True)
class Layout:
    head: Piece
    chunks: dict[str, tuple[Piece, ...]]
    """``KINDS`` -> the kind's chunks in key order."""
    middle: Piece
    tail: Piece

    def pieces(self) -> list[Piece]:
        result = [self.head]
        for kind, between in zip(KINDS, (self.middle, self.tail), strict=True):
            for index, chunk in enumerate(self.chunks[kind]):
                result += [_SEPARATOR, chunk] if index else [chunk]
            result.append(between)
        return result

    def deflate(self) -> bytes:
        """The compressed body: deflate segments ending in a full flush (``assembly``)."""
        return b"".join(p.segment for p in self.pieces())

    @property
    def size(self) -> int:
        return sum(p.size for p in self.pieces())

    def manifest(self) -> bytes:
        return json.dumps([[p.kind, p.first, len(p.segment), p.size] for p in self.pieces()]).encode()


def framed(project: str, environment: str, version: int, chunked: dict[str, tuple[Piece, ...]]) -> Layout:
    head, middle, tail = assembly.frame(project, environment, version)
    return Layout(piece("head", head), chunked, piece("middle", middle), piece("tail", tail))


def full(project: str, environment: str, version: int, entries: dict[str, Entries]) -> Layout:
    """The layout of a document with these entries (``KINDS`` -> entries)."""
    return framed(project, environment, version, {kind: tuple(chunks(kind, entries[kind])) for kind in KINDS})


def parse(manifest: bytes, deflate: bytes) -> Layout | None:
    """Cut a stored body back into its pieces; None if the manifest does not describe it."""
    try:
        listed = json.loads(manifest)
        offset, pieces = 0, []
        for kind, first, length, size in listed:
            pieces.append(Piece(str(kind), str(first), deflate[offset : offset + int(length)], int(size)))
            offset += int(length)
    except (ValueError, TypeError):
        return None
    if offset != len(deflate) or any(len(p.segment) == 0 for p in pieces):
        return None
    by_kind: dict[str, list[Piece]] = {kind: [] for kind in (*KINDS, "head", "middle", "tail")}
    for p in pieces:
        if p.kind != SEPARATOR and p.kind in by_kind:
            by_kind[p.kind].append(p)
    frame = [by_kind[kind] for kind in ("head", "middle", "tail")]
    if any(len(found) != 1 for found in frame):
        return None
    layout = Layout(frame[0][0], {kind: tuple(by_kind[kind]) for kind in KINDS}, frame[1][0], frame[2][0])
    return layout if layout.manifest() == manifest else None


def stale_runs(firsts: list[str], changed: Iterable[str], removed: set[str]) -> list[tuple[int, int]]:
    """The runs ``(lo, hi)`` of chunk indexes (inclusive) that must be cut again after these
    keys changed (``removed``: those of them that left). No chunks yet: ``(0, -1)``."""
    changed = set(changed)
    if not changed:
        return []
    if not firsts:
        return [(0, -1)]
    stale = {max(0, bisect_right(firsts, key) - 1) for key in changed}
    # A chunk whose first key left joins the chunk before it.
    stale |= {index - 1 for index, first in enumerate(firsts) if index and first in removed}
    runs: list[tuple[int, int]] = []
    for index in sorted(stale):
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def key_range(firsts: list[str], run: tuple[int, int]) -> Range:
    lo, hi = run
    return (firsts[lo] if lo else None, firsts[hi + 1] if hi + 1 < len(firsts) else None)


def updated(
    layout: Layout,
    version: int,
    project: str,
    environment: str,
    changes: dict[str, dict[str, bool]],
    read: Callable[[str, list[Range]], Entries],
) -> Layout:
    """``layout`` with its stale chunks cut again from the entries as they are now.

    ``changes``: kind -> changed key -> whether it left the document. ``read(kind, ranges)``:
    the kind's current entries whose keys fall in any of the ranges."""
    chunked = dict(layout.chunks)
    for kind in KINDS:
        old = list(layout.chunks[kind])
        firsts = [chunk.first for chunk in old]
        keys = changes.get(kind, {})
        runs = stale_runs(firsts, keys, {key for key, left in keys.items() if left})
        if not runs:
            continue
        ranges = [key_range(firsts, run) for run in runs]
        current = read(kind, ranges)
        new: list[Piece] = []
        done = 0
        for (lo, hi), (low, high) in zip(runs, ranges, strict=True):
            new += old[done:lo]
            within = {k: v for k, v in current.items() if (low is None or k >= low) and (high is None or k < high)}
            new += chunks(kind, within)
            done = hi + 1
        chunked[kind] = tuple(new + old[done:])
    return framed(project, environment, version, chunked)

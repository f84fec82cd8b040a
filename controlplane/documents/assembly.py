"""The published document, put together from its fragments, and its compressed forms.

The document is canonical JSON (sorted keys, no spaces), so it can be assembled by joining the
fragments' text in key order: the bytes are exactly what ``canonical_json`` of the whole
document would give, without serialising 10,000 flags again.

Compression is done in *segments* (raw DEFLATE ending with a full flush, so a segment refers
to nothing before or after it, and segments can be joined): the Redis copy's body is a series
of them, one per chunk of entries (``documents.layout``), so a change re-compresses only the
chunks it touched. A gzip response is a header, the segments, an empty final block and the CRC
trailer; the same segments also go into the SSE stream (docs/streaming.md), where every event
is such a segment.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from controlplane.documents.models import EnvironmentDocument, Fragment
from controlplane.projects.models import Environment, Project
from flagplane.engine import SCHEMA_VERSION

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
"""A gzip member header: deflate, no flags, no mtime, unknown OS (RFC 1952)."""
FINAL_EMPTY_BLOCK = b"\x03\x00"
"""An empty final fixed-Huffman block: ends a stream made of full-flushed segments."""
COMPRESSION_LEVEL = 6


@dataclass(frozen=True)
class Assembled:
    version: int
    etag: str
    body: bytes


def _json(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def member(key: str, entry: str) -> str:
    """One member of the document's ``flags`` or ``segments`` object."""
    return f"{_json(key)}:{entry}"


def frame(project: str, environment: str, version: int) -> tuple[str, str, str]:
    """The document's text before its flag entries, between them and its segment entries, and
    after those."""
    return (
        f'{{"environment":{_json(environment)},"flags":{{',
        f'}},"project":{_json(project)},"schema_version":{SCHEMA_VERSION},"segments":{{',
        f'}},"version":{version}}}',
    )


def join(project: str, environment: str, version: int, flags: dict[str, str], segments: dict[str, str]) -> bytes:
    """The canonical JSON of a document whose flag and segment entries are already serialised."""

    def members(entries: dict[str, str]) -> str:
        return ",".join(member(key, entries[key]) for key in sorted(entries))

    head, middle, tail = frame(project, environment, version)
    return f"{head}{members(flags)}{middle}{members(segments)}{tail}".encode()


@dataclass(frozen=True)
class Published:
    """The published document of an environment as PostgreSQL has it: header and entries."""

    version: int
    etag: str
    project: str
    environment: str
    entries: dict[str, dict[str, str]]
    """``Fragment.Kind`` -> key -> the entry's canonical JSON."""

    def assembled(self) -> Assembled:
        flags, segments = self.entries[Fragment.Kind.FLAG], self.entries[Fragment.Kind.SEGMENT]
        return Assembled(self.version, self.etag, join(self.project, self.environment, self.version, flags, segments))


def assemble(environment_id: int) -> Assembled | None:
    """The published document of an environment; None if never built."""
    found = published(environment_id)
    return None if found is None else found.assembled()


def published(environment_id: int) -> Published | None:
    """The published document's header and entries, read in one statement (so they are one
    consistent snapshot even while a build commits). None if never built."""
    tables = {
        "document": EnvironmentDocument._meta.db_table,
        "fragment": Fragment._meta.db_table,
        "environment": Environment._meta.db_table,
        "project": Project._meta.db_table,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.version, d.etag, p.key, e.key, f.kind, f.key, f.body
            FROM {tables["document"]} d
            JOIN {tables["environment"]} e ON e.id = d.environment_id
            JOIN {tables["project"]} p ON p.id = e.project_id
            LEFT JOIN {tables["fragment"]} f ON f.environment_id = d.environment_id
            WHERE d.environment_id = %s AND d.version > 0
            """,
            [environment_id],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    version, etag, project, environment = rows[0][:4]
    entries: dict[str, dict[str, str]] = {Fragment.Kind.FLAG: {}, Fragment.Kind.SEGMENT: {}}
    for *_, kind, key, body in rows:
        if kind is not None:
            entries[kind][key] = body
    return Published(version, etag, project, environment, entries)


def entries_in(environment_id: int, kind: str, ranges: list[tuple[str | None, str | None]]) -> dict[str, str]:
    """The environment's fragments of one kind whose keys fall in any of ``ranges`` (from, up to
    but not including; None: no bound). Fragment keys compare by code point, as Python's do."""
    within = Q()
    for low, high in [] if (None, None) in ranges else ranges:
        bounds = Q()
        if low is not None:
            bounds &= Q(key__gte=low)
        if high is not None:
            bounds &= Q(key__lt=high)
        within |= bounds
    fragments = Fragment.objects.filter(environment_id=environment_id, kind=kind).filter(within)
    return dict(fragments.values_list("key", "body"))


def deflate_segment(data: bytes) -> bytes:
    """``data`` as raw DEFLATE ending in a full flush: it can be followed by any other segment."""
    compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def gzip_member(segment: bytes, crc: int, size: int) -> bytes:
    """A complete gzip file made of one deflate segment of ``size`` bytes with CRC-32 ``crc``."""
    return GZIP_HEADER + segment + FINAL_EMPTY_BLOCK + struct.pack("<II", crc, size & 0xFFFFFFFF)


def inflate_segment(segment: bytes) -> bytes:
    decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
    return decompressor.decompress(segment) + decompressor.flush()

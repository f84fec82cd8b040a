"""The receiving side of bench/propagation.py: SDK connections, each child process reporting
when each version reached its connections.

* ``RawStream``: a raw SSE connection to ``GET /api/v1/sdk/stream`` as the SDK opens it (gzip,
  ``Last-Event-ID`` on reconnect, ``Retry-After`` honoured), without its evaluation engine; the
  time of a version is when the kernel received the bytes that complete its event
  (``SO_TIMESTAMPNS``, ``StampedSocket``), and when this bench had parsed it.
* ``run_raw_streams`` / ``run_clients``: a child process of raw connections in one event loop,
  or of real ``flagplane.Client`` objects (their threads would compete with the bench's loop).
* ``Sample``: connections spread over child processes, mirrored in the parent as ``RawStream``s.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

STREAM_PATH = "/api/v1/sdk/stream"


# ---------------------------------------------------------------------------------------------
# Raw streaming connections (what the SDK's stream does, without its evaluation engine)


SO_TIMESTAMPNS = 35
"""Linux (asm-generic/socket.h): the kernel stamps each received segment with its arrival time."""
ANCILLARY_SPACE = socket.CMSG_SPACE(16)  # one struct timespec


class StampedSocket:
    """A client socket whose reads say when the kernel received their bytes, in this process's
    ``time.monotonic()``. The bench reads ~245 connections per process: when an event reaches
    them all at once, the last one read would otherwise be timed after the bench parsed the
    244 before it (an SDK, alone in its process, does not wait for the others)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.arrived = 0.0
        """When the kernel received the newest bytes read (monotonic seconds; the kernel's stamp is
        wall-clock time, converted with the clocks' offset at that read, so a clock step or slew
        during a run does not shift every latency)."""

    async def fill(self) -> None:
        """Read what is there (waiting for something); raises IncompleteReadError at the end."""
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65536, ANCILLARY_SPACE)
            except BlockingIOError:
                await self._readable()
                continue
            if not data:
                raise asyncio.IncompleteReadError(self.buffer, None)
            self.buffer += data
            self.arrived = next(
                (
                    (int.from_bytes(p[:8], "little") * 10**9 + int.from_bytes(p[8:16], "little")
                     - (time.time_ns() - time.monotonic_ns())) / 1e9
                    for level, kind, p in ancillary
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                ),
                time.monotonic(),
            )  # fmt: skip
            return

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(self.sock.fileno(), lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(self.sock.fileno())

    async def take_until(self, separator: bytes) -> bytes:
        while separator not in self.buffer:
            await self.fill()
        head, _, self.buffer = self.buffer.partition(separator)
        return head + separator

    async def take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self.fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    async def take_some(self) -> bytes:
        if not self.buffer:
            await self.fill()
        data, self.buffer = self.buffer, b""
        return data


@dataclass
class RawStream:
    """One SSE connection: the versions it has seen, when their bytes arrived (``seen_at``) and
    when this bench had parsed them (``parsed_at``), and the wire bytes up to each. In
    ``Sample.streams``, what a child process reported of one of its connections (a raw one, or
    a flagplane.Client: when it applied each version)."""

    version: int = 0
    bytes_received: int = 0
    seen_at: dict[int, float] = field(default_factory=dict)
    parsed_at: dict[int, float] = field(default_factory=dict)
    bytes_at: dict[int, int] = field(default_factory=dict)
    reconnects: int = 0
    refusals: int = 0
    _buffer: bytes = b""

    async def run(self, host: str, port: int, sdk_key: str) -> None:
        while True:
            try:
                retry_after = await self._connect_once(host, port, sdk_key)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                retry_after = 0.1
            self.reconnects += 1
            await asyncio.sleep(retry_after)

    async def _connect_once(self, host: str, port: int, sdk_key: str) -> float:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(sock, (host, port))
            resume = f"Last-Event-ID: {self.version}\r\n" if self.version else ""
            await loop.sock_sendall(
                sock,
                f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {sdk_key}\r\n"
                "Accept: text/event-stream\r\nAccept-Encoding: gzip\r\nCache-Control: no-cache\r\n"
                f"{resume}\r\n".encode(),
            )
            reader = StampedSocket(sock)
            head = await reader.take_until(b"\r\n\r\n")
            self.bytes_received += len(head)
            status = int(head.split(b" ", 2)[1])
            headers = head.lower()
            if status != 200:
                self.refusals += 1
                retry = next((line for line in headers.split(b"\r\n") if line.startswith(b"retry-after:")), None)
                return float(retry.split(b":", 1)[1]) if retry else 1.0
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if b"content-encoding: gzip" in headers else None
            self._buffer = b""
            chunked = b"transfer-encoding: chunked" in headers
            while True:
                if chunked:
                    size_line = await reader.take_until(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        return 0.1
                    data = (await reader.take(size + 2))[:size]
                    self.bytes_received += len(size_line) + size + 2
                else:
                    data = await reader.take_some()
                    self.bytes_received += len(data)
                self._feed(inflater.decompress(data) if inflater else data, reader.arrived)
        finally:
            sock.close()

    def _feed(self, data: bytes, arrived: float) -> None:
        self._buffer += data
        *blocks, self._buffer = self._buffer.split(b"\n\n")
        for block in blocks:
            for line in block.split(b"\n"):
                if line.startswith(b"id: "):
                    version = int(line[4:])
                    if version > self.version:
                        self.version = version
                        self.seen_at.setdefault(version, arrived)
                        self.parsed_at.setdefault(version, time.monotonic())
                        self.bytes_at.setdefault(version, self.bytes_received)


def run_raw_streams(host: str, port: int, sdk_key: str, first: int, count: int, reports, control) -> None:
    """``count`` raw connections in this process's event loop; their new versions reported in
    batches as ``(index, version, seen_at, bytes_at)``, indexes counted from ``first``."""
    asyncio.run(_raw_streams(host, port, sdk_key, first, count, reports, control))


async def _raw_streams(host: str, port: int, sdk_key: str, first: int, count: int, reports, control) -> None:
    streams, tasks = await open_streams(count, host, port, sdk_key)
    stop = asyncio.ensure_future(asyncio.to_thread(control.get))
    reported = [0] * count
    while not stop.done():
        batch = []
        for index, stream in enumerate(streams):
            if stream.version > reported[index]:
                batch += [
                    (first + index, version, at, stream.parsed_at[version], stream.bytes_at[version])
                    for version, at in stream.seen_at.items()
                    if version > reported[index]
                ]
                reported[index] = stream.version
        if batch:
            reports.put(batch)
        await asyncio.wait([stop], timeout=0.02)
    reports.put(("done", sum(s.refusals for s in streams), sum(s.reconnects for s in streams)))
    await close_streams(tasks)


async def open_streams(count: int, host: str, port: int, sdk_key: str) -> tuple[list[RawStream], list[asyncio.Task]]:
    streams = [RawStream() for _ in range(count)]
    tasks = []
    for index, stream in enumerate(streams):
        tasks.append(asyncio.ensure_future(stream.run(host, port, sdk_key)))
        if index % 50 == 49:
            await asyncio.sleep(0.05)  # a ramp, as SDK processes starting one after another
    return streams, tasks


async def close_streams(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Sample:
    """``count`` connections spread over ``processes`` child processes, each running
    ``child(*args, first, count, reports, control)`` (as SDKs are, each in its own process: raw
    connections in one event loop, or flagplane.Client objects); ``streams`` mirrors what they
    report: batches of ``(index, version, seen_at, parsed_at, bytes_at)`` with indexes counted
    from ``first``, ``("ready", first, versions)`` once a child's clients have a document, and
    ``("done", refusals, reconnects)`` when it stops."""

    def __init__(self, child: Callable[..., None], args: tuple, count: int, processes: int = 1) -> None:
        context = multiprocessing.get_context("spawn")
        self.reports = context.Queue()
        self.streams = [RawStream() for _ in range(count)]
        self.refusals = self.reconnects = 0
        self._ready, self._done = threading.Semaphore(0), threading.Semaphore(0)
        self.processes = []
        for part in range(processes):
            first, last = count * part // processes, count * (part + 1) // processes
            control = context.Queue()
            process = context.Process(target=child, args=(*args, first, last - first, self.reports, control))
            process.start()
            self.processes.append((process, control))
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        while True:
            batch = self.reports.get()
            if batch[0] == "ready":
                _, first, versions = batch
                for stream, version in zip(self.streams[first : first + len(versions)], versions, strict=True):
                    stream.version = version or 0
                self._ready.release()
                continue
            if batch[0] == "done":
                self.refusals += batch[1]
                self.reconnects += batch[2]
                self._done.release()
                continue
            for index, version, at, parsed, wire in batch:
                stream = self.streams[index]
                stream.seen_at.setdefault(version, at)
                stream.parsed_at.setdefault(version, parsed)
                stream.bytes_at.setdefault(version, wire)
                stream.bytes_received = max(stream.bytes_received, wire)
                stream.version = max(stream.version, version)

    async def ready(self, timeout: float) -> None:
        """Wait until every child has said its clients have a document."""
        deadline = time.monotonic() + timeout
        for _ in self.processes:
            if not await asyncio.to_thread(self._ready.acquire, timeout=max(0.0, deadline - time.monotonic())):
                raise RuntimeError("the SDK clients did not get a document")

    def stop(self) -> None:
        for _, control in self.processes:
            control.put("stop")
        for process, _ in self.processes:
            self._done.acquire(timeout=30)
            process.join(30)
            if process.is_alive():
                process.kill()


# ---------------------------------------------------------------------------------------------
# Real SDK clients, in a process of their own (their threads would compete with this loop)


def run_clients(
    base_url: str, sdk_key: str, stream: bool, spread_s: float, first: int, count: int, reports, control
) -> None:
    """``count`` flagplane.Client objects; each version they apply reported at once (its time as
    both ``seen_at`` and ``parsed_at``), indexes counted from ``first``."""
    import flagplane

    def report(index: int, version: int) -> None:
        at = time.monotonic()
        reports.put([(first + index, version, at, at, 0)])

    clients = []
    for index in range(count):
        client = flagplane.Client(sdk_key, base_url, stream=stream)
        client.add_listener(lambda event, index=index: report(index, event.version))
        clients.append(client)
        time.sleep(spread_s / count)
    for client in clients:
        client.wait_until_ready(timeout=120)
    reports.put(("ready", first, [client.status().document_version for client in clients]))
    control.get()
    reports.put(("done", 0, 0))
    for client in clients:
        client.close()

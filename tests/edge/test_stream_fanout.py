"""An event reaches a stream's connection at once, and never ahead of what is queued for it."""

from controlplane.edge.feeds import Event, Stream


def event(version: int) -> Event:
    return Event(version, f"event {version}\n\n".encode(), f"deflated {version}".encode())


class Connection:
    """A ChunkWriter's stand-in: takes bytes unless the client reads too slowly."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.reads_slowly = False

    def __call__(self, data: bytes) -> bool:
        if self.reads_slowly:
            return False
        self.written.append(data)
        return True


def test_an_event_is_written_to_the_connection_at_once():
    connection, stream = Connection(), Stream("digest", gzip=False, version=1)
    stream.write = connection

    stream.push(event(2))

    assert connection.written == [b"event 2\n\n"]
    assert stream.queue == [] and stream.version == 2 and not stream.wake.is_set()


def test_a_gzip_stream_gets_the_deflated_form():
    connection, stream = Connection(), Stream("digest", gzip=True, version=1)
    stream.write = connection

    stream.push(event(2))

    assert connection.written == [b"deflated 2"]


def test_a_slow_client_gets_events_queued_for_its_task_in_order():
    connection, stream = Connection(), Stream("digest", gzip=False, version=1)
    stream.write = connection
    connection.reads_slowly = True

    stream.push(event(2))
    connection.reads_slowly = False
    stream.push(event(3))

    assert connection.written == []
    assert stream.queue == [b"event 2\n\n", b"event 3\n\n"] and stream.wake.is_set()


def test_nothing_is_written_directly_while_the_task_sends():
    stream = Stream("digest", gzip=False, version=1)  # write is None until the response started

    stream.push(event(2))

    assert stream.queue == [b"event 2\n\n"] and stream.wake.is_set()

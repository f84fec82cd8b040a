"""The client on a stream (the default): the document on connect, patches after, and a return
to polling when the stream cannot be had."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

import flagplane.sync
from flagplane import Client

FLAG_ON = {"default": {"variant": "on"}}
FLAG_OFF = {"default": {"variant": "off"}}


def patch(previous: int, version: int, **flags: Any) -> bytes:
    return json.dumps(
        {"previous_version": previous, "version": version, "flags": flags, "segments": {}}
    ).encode()


@pytest.fixture
def streaming(control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any):
    """A streaming client of a document with "checkout" off at version 1."""
    control_plane.streaming = True
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_OFF), version=1))

    def make(**options: Any) -> Client:
        client = make_client(stream=True, **options)
        assert client.wait_until_ready(timeout=5)
        return client

    return make


def test_the_client_streams_by_default_and_applies_patches_without_polling(
    streaming: Any, control_plane: Any, flag_factory: Any, eventually: Any
) -> None:
    client = streaming()
    assert client.is_enabled("checkout", "u") is False
    assert client.status().connection == "streaming"
    control_plane.send_event(
        "patch", 2, patch(1, 2, checkout=flag_factory("checkout", version=2, **FLAG_ON))
    )
    assert eventually(lambda: client.is_enabled("checkout", "u") is True)
    assert client.status().document_version == 2
    assert control_plane.config_requests == []  # never polled


def test_a_patch_can_remove_a_flag_and_keeps_the_other_flags_compiled(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    control_plane.streaming = True
    control_plane.publish(document_factory(flag_factory("a"), flag_factory("b"), version=1))
    client = make_client(stream=True)
    assert client.wait_until_ready(timeout=5)
    kept = client.flag("a")
    control_plane.send_event("patch", 2, patch(1, 2, b=None))
    assert eventually(lambda: client.status().document_version == 2)
    assert client.flag("b") is None and client.flag("a") is kept


def test_a_missing_version_makes_the_client_reconnect_from_its_own_version(
    streaming: Any, control_plane: Any, flag_factory: Any, eventually: Any
) -> None:
    client = streaming()
    control_plane.send_event("patch", 4, patch(3, 4, checkout=flag_factory("checkout", **FLAG_ON)))
    assert eventually(lambda: len(control_plane.stream_requests) >= 2)
    assert control_plane.stream_requests[-1][1]["Last-Event-ID"] == "1"
    assert client.status().document_version in (1, control_plane.document["version"])


def test_a_dropped_stream_is_resumed_within_a_second(
    streaming: Any, control_plane: Any, eventually: Any
) -> None:
    client = streaming()
    dropped_at = time.monotonic()
    control_plane.end_streams()
    assert eventually(lambda: len(control_plane.stream_requests) >= 2, timeout=5)
    assert control_plane.stream_requests[1][0] - dropped_at < 1.0 + 0.5
    assert control_plane.stream_requests[1][1]["Last-Event-ID"] == "1"
    assert eventually(lambda: client.status().connection == "streaming")


def test_after_an_outage_the_stream_is_back_within_a_reconnect_cap_of_its_end(
    streaming: Any, control_plane: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    """However long the control plane was down, reconnects (jittered, doubling) never wait more
    than STREAM_RECONNECT_MAX_S, so its return is seen within about a second."""
    client = streaming()
    control_plane.stream_outage = True
    control_plane.end_streams()
    assert eventually(lambda: len(control_plane.stream_requests) >= 9, timeout=20)
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=2))
    control_plane.stream_outage = False
    assert eventually(lambda: client.is_enabled("checkout", "u") is True, timeout=5)
    assert client.status().document_version == 2 and client.status().connection == "streaming"
    reconnects = [at for at, _ in control_plane.stream_requests[1:]]  # the first one opened before
    waits = [later - earlier for earlier, later in itertools.pairwise(reconnects)]
    assert max(waits) < flagplane.sync.STREAM_RECONNECT_MAX_S + 0.5, waits  # uncapped: 0.1 * 2**7 s


def test_after_a_proxy_answered_502_the_stream_is_back_without_waiting_a_poll_interval(
    streaming: Any, control_plane: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    """A 5xx other than 503 (a proxy's 502/504 while the control plane is down) is an outage,
    not a server without a stream: reconnect within the cap, rather than poll."""
    client = streaming(poll_interval=60.0)
    control_plane.outage = True  # polls would be refused too: the whole control plane is down
    control_plane.stream_status = 502
    control_plane.end_streams()
    assert eventually(lambda: len(control_plane.stream_requests) >= 5, timeout=20)
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=2))
    control_plane.stream_status = None
    control_plane.outage = False
    assert eventually(lambda: client.is_enabled("checkout", "u") is True, timeout=5)
    assert client.status().document_version == 2 and client.status().connection == "streaming"
    assert control_plane.config_requests == []  # never fell back to polling


def test_without_a_stream_the_client_polls_and_returns_to_the_stream_later(
    control_plane: Any,
    make_client: Any,
    flag_factory: Any,
    document_factory: Any,
    eventually: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(flagplane.sync, "STREAM_RETRY_S", 0.5)
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_OFF), version=1))
    client = make_client(stream=True)  # the fake answers the stream with 404: an older server
    assert client.wait_until_ready(timeout=5)
    assert client.status().connection == "polling"
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=2))
    assert eventually(lambda: client.is_enabled("checkout", "u") is True)

    control_plane.streaming = True
    assert eventually(lambda: client.status().connection == "streaming", timeout=5)


def test_a_server_that_does_not_implement_the_stream_is_polled(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.streaming = True
    control_plane.stream_status = 501  # unlike the other 5xx: no stream here, like a 404
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=1))
    client = make_client(stream=True)
    assert client.wait_until_ready(timeout=5)
    assert client.status().connection == "polling" and len(control_plane.stream_requests) == 1


def test_a_shedding_server_is_left_alone_for_its_retry_after(
    streaming: Any, control_plane: Any, eventually: Any
) -> None:
    control_plane.stream_failures.append((503, {"Retry-After": "1"}))
    client = streaming()
    (first, _), (second, _) = control_plane.stream_requests[:2]
    assert second - first >= 0.95
    assert client.status().connection == "streaming"


def test_an_older_document_is_refused_and_reported(
    streaming: Any, control_plane: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    client = streaming()
    control_plane.send_event("patch", 5, patch(1, 5, checkout=flag_factory("checkout", **FLAG_ON)))
    assert eventually(lambda: client.status().document_version == 5)
    older = document_factory(
        flag_factory("checkout", **FLAG_OFF), version=4
    )  # a restored Redis, say
    control_plane.send_event("put", 4, json.dumps(older).encode())
    assert eventually(lambda: client.status().refused_version == 4)
    assert client.status().document_version == 5
    assert client.is_enabled("checkout", "u") is True


def test_a_patch_it_cannot_apply_keeps_the_last_good_document_and_asks_for_all_later(
    streaming: Any, control_plane: Any, flag_factory: Any, eventually: Any
) -> None:
    client = streaming(poll_interval=0.3)
    control_plane.send_event("patch", 2, patch(1, 2, checkout={"key": "checkout"}))
    assert eventually(lambda: "rejected" in (client.status().last_error or ""))
    assert client.status().document_version == 1
    assert eventually(lambda: len(control_plane.stream_requests) >= 2, timeout=5)
    assert "Last-Event-ID" not in control_plane.stream_requests[-1][1]  # the whole document again


def test_patches_are_kept_in_the_cache_file_and_applied_on_the_next_start(
    streaming: Any,
    control_plane: Any,
    flag_factory: Any,
    make_client: Any,
    tmp_path: Path,
    eventually: Any,
) -> None:
    cache = tmp_path / "flags.json"
    client = streaming(cache_path=cache)
    assert eventually(cache.exists)
    control_plane.send_event("patch", 2, patch(1, 2, checkout=flag_factory("checkout", **FLAG_ON)))
    assert eventually(lambda: client.status().document_version == 2)
    client.close()

    restarted = make_client(cache_path=cache, base_url="http://127.0.0.1:9", stream=True)
    assert restarted.wait_until_ready(timeout=5)
    assert restarted.status().source == "cache" and restarted.status().document_version == 2
    assert restarted.is_enabled("checkout", "u") is True


def test_close_ends_a_stream_at_once(streaming: Any, control_plane: Any) -> None:
    client = streaming()
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 1.0
    assert client.status().connection is None

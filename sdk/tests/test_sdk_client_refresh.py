"""The client against a local fake control plane: readiness, refresh, ETags, rejection of bad
documents, backoff, the disk cache and bootstrap."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from flagplane import Client, Reason

FLAG_ON = {"default": {"variant": "on"}}
FLAG_OFF = {"default": {"variant": "off"}}


def test_client_serves_the_document_from_the_control_plane(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=3))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    assert client.is_enabled("checkout", "user-1") is True
    status = client.status()
    assert (status.ready, status.source, status.document_version) == (True, "network", 3)
    assert status.etag == control_plane.etag
    assert status.stale_since is None and status.last_error is None


def test_requests_carry_the_bearer_key_and_the_etag(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout")))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    assert eventually(lambda: len(control_plane.config_requests) >= 3)
    first, *later = [headers for _, headers in control_plane.config_requests]
    assert first["Authorization"] == "Bearer sdk-test-key"
    assert "If-None-Match" not in first
    assert all(h.get("If-None-Match") == control_plane.etag for h in later)


def test_a_new_document_is_picked_up_by_polling(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_OFF), version=1))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    assert client.is_enabled("checkout", "u") is False
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=2))
    assert eventually(lambda: client.is_enabled("checkout", "u") is True)
    assert client.status().document_version == 2


def test_change_listeners_hear_which_flags_changed(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("a"), flag_factory("b"), version=1))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    events: list[Any] = []
    client.add_listener(events.append)
    control_plane.publish(
        document_factory(flag_factory("a", version=2), flag_factory("c"), version=2)
    )
    assert eventually(lambda: bool(events))
    assert events[0].previous_version == 1 and events[0].version == 2
    assert set(events[0].changed_flags) == {"a", "b", "c"}


@pytest.mark.parametrize(
    "bad_body",
    [
        b"{not json",
        json.dumps({"schema_version": 2, "flags": {}}).encode(),
        json.dumps(
            {
                "schema_version": 1,
                "project": "p",
                "environment": "e",
                "version": 2,
                "flags": {"x": {"key": "x"}},
                "segments": {},
            }
        ).encode(),
    ],
    ids=["not-json", "unknown-schema-version", "malformed-flag"],
)
def test_a_rejected_document_keeps_the_last_good_one(
    control_plane: Any,
    make_client: Any,
    flag_factory: Any,
    document_factory: Any,
    eventually: Any,
    bad_body: bytes,
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=1))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    control_plane.publish_raw(bad_body)
    assert eventually(lambda: client.status().last_error is not None)
    assert "rejected document" in (client.status().last_error or "")
    assert client.is_enabled("checkout", "u") is True
    assert client.status().document_version == 1


def test_wrong_sdk_key_is_reported_in_status_and_serves_defaults(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON)))
    client = make_client(sdk_key="wrong")
    assert eventually(lambda: client.status().last_error is not None)
    assert "401" in (client.status().last_error or "")
    assert client.is_enabled("checkout", "u", default=True) is True
    assert client.evaluate("checkout", "u").reason == Reason.NOT_READY
    assert client.wait_until_ready(timeout=0.1) is False


def test_retry_after_is_honoured(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout")))
    control_plane.config_failures.append((503, {"Retry-After": "1"}))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    (first, _), (second, _) = control_plane.config_requests[:2]
    assert second - first >= 0.95


def test_a_shed_poll_is_not_repeated_sooner_than_the_next_regular_poll(
    control_plane: Any,
    make_client: Any,
    flag_factory: Any,
    document_factory: Any,
    eventually: Any,
) -> None:
    """A server shedding load must not make an SDK that has a document ask more often."""
    control_plane.publish(document_factory(flag_factory("checkout")))
    client = make_client(poll_interval=1.0)
    assert client.wait_until_ready(timeout=5)
    control_plane.config_failures.append((503, {"Retry-After": "0"}))
    assert eventually(lambda: len(control_plane.config_requests) >= 3, timeout=10)
    (_, _), (refused, _), (after, _) = control_plane.config_requests[:3]
    assert after - refused >= 0.9 * 1.0  # the poll interval, less its jitter
    assert client.is_enabled("checkout", "u") is False  # served throughout


def test_failures_back_off_exponentially(
    control_plane: Any,
    make_client: Any,
    flag_factory: Any,
    document_factory: Any,
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout")))
    control_plane.config_failures.extend([(500, {})] * 5)
    client = make_client(backoff_base=0.04, backoff_max=10.0, poll_interval=5.0)
    assert client.wait_until_ready(timeout=10)
    times = [t for t, _ in control_plane.config_requests[:6]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Delays are uniform in [d/2, d] with d = 0.04 * 2^n: each gap is at least half its ceiling, so
    # the fifth is at least 0.29 s where a constant 0.04-s delay would give 0.04 (an upper bound, or
    # comparing two gaps, would fail whenever a loaded machine stalls the first one).
    for n, gap in enumerate(gaps[:5]):
        assert gap >= 0.04 * 2**n / 2 * 0.9


def test_failures_never_wait_longer_than_the_poll_interval(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    """After an outage the document is current again within one interval, whatever the backoff."""
    control_plane.publish(document_factory(flag_factory("checkout")))
    control_plane.config_failures.extend([(500, {})] * 8)
    client = make_client(backoff_base=1.0, backoff_max=60.0, poll_interval=0.1)
    assert client.wait_until_ready(timeout=10)
    times = [t for t, _ in control_plane.config_requests[:9]]
    assert (
        max(b - a for a, b in itertools.pairwise(times)) < 0.1 + 0.5
    )  # the interval, plus scheduling


def test_unreachable_control_plane_serves_defaults_without_raising(make_client: Any) -> None:
    client = make_client(base_url="http://127.0.0.1:9")  # discard port: connection refused
    assert client.wait_until_ready(timeout=0.2) is False
    assert client.is_enabled("anything", "u", default=True) is True
    assert client.variant("anything", {"key": "u"}, default="control") == "control"
    result = client.evaluate("anything", "u", default=7)
    assert (result.value, result.reason) == (7, Reason.NOT_READY)
    assert client.status().ready is False


def test_cache_file_is_written_after_a_fetch_and_left_without_temp_files(
    control_plane: Any,
    make_client: Any,
    flag_factory: Any,
    document_factory: Any,
    tmp_path: Path,
    eventually: Any,
) -> None:
    cache = tmp_path / "flags" / "cache.json"
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=5))
    client = make_client(cache_path=cache)
    assert client.wait_until_ready(timeout=5)
    assert eventually(cache.exists)
    stored = json.loads(cache.read_text())
    assert stored["document"]["version"] == 5
    assert stored["etag"] == control_plane.etag
    assert os.listdir(cache.parent) == ["cache.json"]


def test_start_while_control_plane_is_down_serves_the_cached_document(
    control_plane: Any,
    make_client: Any,
    flag_factory: Any,
    document_factory: Any,
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache.json"
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=5))
    first = make_client(cache_path=cache)
    assert first.wait_until_ready(timeout=5)
    first.close()

    client = make_client(cache_path=cache, base_url="http://127.0.0.1:9")
    assert client.wait_until_ready(timeout=5) is True
    result = client.evaluate("checkout", "u")
    assert (result.value, result.reason) == (True, Reason.DEFAULT)
    status = client.status()
    assert status.source == "cache" and status.document_version == 5
    assert status.stale_since is not None and status.last_error is not None


def test_corrupt_cache_is_ignored(make_client: Any, tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    cache.write_text("{garbage")
    client = make_client(cache_path=cache, base_url="http://127.0.0.1:9")
    assert client.is_enabled("checkout", "u") is False
    assert client.status().ready is False


def test_bootstrap_from_dict_or_file_serves_until_the_network_answers(
    flag_factory: Any, document_factory: Any, tmp_path: Path
) -> None:
    document = document_factory(flag_factory("checkout", **FLAG_ON))
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(document))
    for bootstrap in (document, str(path)):
        client = Client(base_url="http://127.0.0.1:9", bootstrap=bootstrap, backoff_base=5)
        try:
            assert client.is_enabled("checkout", "u") is True
            assert client.status().source == "bootstrap"
        finally:
            client.close()


def test_from_document_is_offline(flag_factory: Any, document_factory: Any) -> None:
    client = Client.from_document(document_factory(flag_factory("checkout", **FLAG_ON)))
    assert client._threads == []
    assert client.wait_until_ready(timeout=0) is True
    assert client.is_enabled("checkout", "u") is True
    client.close()


def test_asyncio_wait_does_not_block_the_event_loop(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    import asyncio

    client = make_client(base_url="http://127.0.0.1:9")

    async def scenario() -> tuple[bool, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        ready = await client.wait_until_ready_async(timeout=0.3)
        task.cancel()
        return ready, ticks

    ready, ticks = asyncio.run(scenario())
    assert ready is False
    assert ticks >= 10


def test_gzip_encoded_documents_are_accepted(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.gzip_responses = True
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON)))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    assert client.is_enabled("checkout", "u") is True


def test_a_cached_document_confirmed_by_304_is_fresh_again(
    control_plane: Any,
    make_client: Any,
    flag_factory: Any,
    document_factory: Any,
    tmp_path: Path,
    eventually: Any,
) -> None:
    cache = tmp_path / "cache.json"
    control_plane.publish(document_factory(flag_factory("checkout", **FLAG_ON), version=5))
    first = make_client(cache_path=cache)
    assert first.wait_until_ready(timeout=5)
    first.close()
    requests_before = len(control_plane.config_requests)
    client = make_client(cache_path=cache)
    assert client.wait_until_ready(timeout=5)
    assert eventually(lambda: client.status().source == "network")
    status = client.status()
    assert status.stale_since is None and status.document_version == 5
    second_headers = control_plane.config_requests[requests_before][1]
    assert second_headers["If-None-Match"] == control_plane.etag  # no re-download needed

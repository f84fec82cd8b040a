"""FlagplaneProvider's states and events through the real openfeature-sdk, against a fake control
plane: each transition emits its event exactly once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("openfeature")

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderFatalError
from openfeature.provider import ProviderStatus

from flagplane.openfeature import FlagplaneProvider

FakeControlPlane = Any

EVENTS = (
    ProviderEvent.PROVIDER_READY,
    ProviderEvent.PROVIDER_ERROR,
    ProviderEvent.PROVIDER_STALE,
    ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
)


class Recorder:
    """Every provider event the API's handlers saw, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[ProviderEvent, EventDetails]] = []
        self.lock = threading.Lock()
        self.handlers = {event: self._handler(event) for event in EVENTS}

    def _handler(self, event: ProviderEvent) -> Callable[[EventDetails], None]:
        def record(details: EventDetails) -> None:
            if details.provider_name != "flagplane":
                return  # adding a READY handler runs it at once for the no-op provider in place
            with self.lock:
                self.events.append((event, details))

        return record

    def names(self) -> list[str]:
        with self.lock:
            return [event.value for event, _ in self.events]

    def count(self, event: ProviderEvent) -> int:
        return self.names().count(event.value)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    for event, handler in recorder.handlers.items():
        api.add_handler(event, handler)
    yield recorder
    api.clear_providers()
    for event, handler in recorder.handlers.items():
        with contextlib.suppress(ValueError):  # clear_providers may have dropped it already
            api.remove_handler(event, handler)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def status() -> ProviderStatus:
    return api.get_client().get_provider_status()


def provider_for(plane: FakeControlPlane, **options: Any) -> FlagplaneProvider:
    settings: dict[str, Any] = {
        "sdk_key": plane.sdk_key,
        "base_url": plane.url,
        "poll_interval": 0.05,
        "backoff_base": 0.05,
        "backoff_max": 0.2,
        "send_metrics": False,
    }
    settings.update(options)
    return FlagplaneProvider(**settings)


def test_registration_emits_ready_exactly_once(
    control_plane: FakeControlPlane, recorder: Recorder, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout")))
    api.set_provider_and_wait(provider_for(control_plane))
    assert wait_for(lambda: recorder.count(ProviderEvent.PROVIDER_READY) >= 1)
    wait_for(lambda: len(control_plane.config_requests) >= 5)  # several polls later...
    assert recorder.names() == ["PROVIDER_READY"]  # ...still one event, and no other
    assert status() == ProviderStatus.READY


def test_a_refused_sdk_key_is_fatal_with_provider_fatal(
    control_plane: FakeControlPlane, recorder: Recorder, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout")))
    with pytest.raises(ProviderFatalError):
        api.set_provider_and_wait(provider_for(control_plane, sdk_key="fp_srv_revoked"))
    assert status() == ProviderStatus.FATAL
    details = api.get_client().get_boolean_details("checkout", True, EvaluationContext("u"))
    assert (details.value, details.error_code) == (True, ErrorCode.PROVIDER_FATAL)
    assert wait_for(lambda: recorder.names() == ["PROVIDER_ERROR"])
    assert recorder.events[0][1].error_code == ErrorCode.PROVIDER_FATAL


def test_a_key_revoked_while_running_makes_the_provider_fatal_once(
    control_plane: FakeControlPlane, recorder: Recorder, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout")))
    api.set_provider_and_wait(provider_for(control_plane))
    control_plane.sdk_key = "another-key"  # the provider's key is now refused with 401
    assert wait_for(lambda: status() == ProviderStatus.FATAL)
    polls = len(control_plane.config_requests)
    wait_for(lambda: len(control_plane.config_requests) >= polls + 3)
    assert wait_for(lambda: recorder.names() == ["PROVIDER_READY", "PROVIDER_ERROR"])
    assert recorder.events[1][1].error_code == ErrorCode.PROVIDER_FATAL


def test_losing_the_control_plane_is_stale_and_regaining_it_is_ready_again(
    control_plane: FakeControlPlane, recorder: Recorder, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout", default={"variant": "on"})))
    api.set_provider_and_wait(provider_for(control_plane))
    control_plane.outage = True
    assert wait_for(lambda: status() == ProviderStatus.STALE)
    assert api.get_client().get_boolean_value("checkout", False, EvaluationContext("u")) is True
    control_plane.outage = False
    assert wait_for(lambda: status() == ProviderStatus.READY)
    assert wait_for(
        lambda: recorder.names() == ["PROVIDER_READY", "PROVIDER_STALE", "PROVIDER_READY"]
    )


def test_a_first_document_after_a_failed_start_emits_ready_once(
    control_plane: FakeControlPlane, recorder: Recorder, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.outage = True
    with pytest.raises(Exception, match="no Flagplane document"):
        api.set_provider_and_wait(provider_for(control_plane, ready_timeout=0.2))
    assert status() == ProviderStatus.ERROR
    details = api.get_client().get_boolean_details("checkout", True, EvaluationContext("u"))
    assert (details.value, details.error_code) == (True, ErrorCode.PROVIDER_NOT_READY)
    control_plane.publish(document_factory(flag_factory("checkout", default={"variant": "off"})))
    control_plane.outage = False
    assert wait_for(lambda: status() == ProviderStatus.READY)
    assert api.get_client().get_boolean_value("checkout", True, EvaluationContext("u")) is False
    assert wait_for(lambda: recorder.names() == ["PROVIDER_ERROR", "PROVIDER_READY"])


def test_a_document_that_cannot_be_parsed_is_parse_error(
    control_plane: FakeControlPlane, recorder: Recorder
) -> None:
    control_plane.publish_raw(b'{"schema_version": 1, "flags": "not a map"')
    with pytest.raises(Exception, match="no Flagplane document"):
        api.set_provider_and_wait(provider_for(control_plane, ready_timeout=0.3))
    details = api.get_client().get_boolean_details("checkout", True, EvaluationContext("u"))
    assert (details.value, details.error_code) == (True, ErrorCode.PARSE_ERROR)


def test_configuration_changed_names_the_changed_flags_after_a_refresh(
    control_plane: FakeControlPlane, recorder: Recorder, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(
        document_factory(flag_factory("checkout"), flag_factory("other"), version=1)
    )
    api.set_provider_and_wait(provider_for(control_plane))
    control_plane.publish(
        document_factory(
            flag_factory("checkout", version=2, on=False), flag_factory("other"), version=2
        )
    )
    assert wait_for(lambda: recorder.count(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED) == 1)
    changed = [d for e, d in recorder.events if e == ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]
    assert changed[0].flags_changed == ["checkout"]
    assert (
        api.get_client().get_boolean_details("checkout", True, EvaluationContext("u")).value is True
    )
    assert recorder.count(ProviderEvent.PROVIDER_READY) == 1


def test_registering_a_provider_again_after_shutdown_serves_fresh_documents(
    control_plane: FakeControlPlane, recorder: Recorder, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(
        document_factory(flag_factory("checkout", default={"variant": "on"}), version=1)
    )
    provider = provider_for(control_plane)
    api.set_provider_and_wait(provider)
    api.clear_providers()  # shuts the provider down
    assert provider.status == ProviderStatus.NOT_READY
    api.set_provider_and_wait(provider)
    control_plane.publish(
        document_factory(flag_factory("checkout", version=2, default={"variant": "off"}), version=2)
    )
    ctx = EvaluationContext("u")
    assert wait_for(lambda: api.get_client().get_boolean_value("checkout", True, ctx) is False)

"""The demo service's traffic logic (demo/service.py), with offline SDK clients: no processes."""

from __future__ import annotations

import random
import time

import pytest

import flagplane
from demo.service import Behaviour, Profile, SimulatedError, TrafficGenerator, handle_request, user_context
from flagplane.testing import TestClient

FLAG = "checkout-v2"


def split_document(treatment_percent: float) -> dict:
    """An SDK document serving ``on`` to ``treatment_percent`` of users, ``off`` to the rest."""
    weight = round(treatment_percent * 1000)
    return {
        "schema_version": 1,
        "project": "demo",
        "environment": "production",
        "version": 1,
        "segments": {},
        "flags": {
            FLAG: {
                "key": FLAG,
                "kind": "boolean",
                "variant_type": "boolean",
                "version": 1,
                "on": True,
                "salt": FLAG,
                "bucket_by": "key",
                "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
                "off_variant": "off",
                "targets": [],
                "rules": [],
                "default": {
                    "split": [{"variant": "on", "weight": weight}, {"variant": "off", "weight": 100_000 - weight}]
                },
            }
        },
    }


def no_sleep(seconds: float) -> None:
    pass


def test_errors_of_the_new_path_are_recorded_at_the_faulty_rate() -> None:
    client = TestClient()
    client.set(FLAG, True)  # everyone gets the new path
    traffic = TrafficGenerator(client, FLAG, Profile.faulty(error_rate=0.08), users=3000, seed=7, sleep=no_sleep)

    stats = traffic.run_requests(20_000)

    signals = client.recorded
    assert len(signals) == 20_000
    assert {s.flag for s in signals} == {FLAG}
    errors = sum(not s.ok for s in signals)
    assert 0.07 < errors / len(signals) < 0.09  # 8% +/- 5 standard errors
    assert stats.totals["new"].requests == 20_000 and stats.totals["new"].errors == errors
    assert stats.totals["old"].requests == 0


def test_the_old_path_keeps_its_own_error_rate() -> None:
    client = TestClient()
    client.set(FLAG, False)  # flag off: everyone on the old path
    traffic = TrafficGenerator(client, FLAG, Profile.faulty(), seed=3, sleep=no_sleep)

    stats = traffic.run_requests(20_000)

    old = stats.totals["old"]
    assert old.requests == 20_000 and stats.totals["new"].requests == 0
    assert 0.005 < old.error_rate < 0.015
    assert sum(not s.ok for s in client.recorded) == old.errors


def test_signals_are_recorded_per_served_variant_of_a_split() -> None:
    """A 25% split served from a whole SDK document: errors land on the variant that was served."""
    client = TestClient()
    client.set_document(split_document(25))
    profile = Profile(old=Behaviour(0.0, 0.0), new=Behaviour(1.0, 0.0))  # only the new path fails
    traffic = TrafficGenerator(client, FLAG, profile, users=4000, seed=11, sleep=no_sleep)

    stats = traffic.run_requests(8_000)

    new, old = stats.totals["new"], stats.totals["old"]
    assert new.errors == new.requests and old.errors == 0
    assert 0.2 < new.requests / 8_000 < 0.3  # about 25% of users are bucketed into the treatment
    by_variant = {variant: [s.ok for s in client.recorded if s.variant == variant] for variant in ("on", "off")}
    assert len(by_variant["on"]) == new.requests and not any(by_variant["on"])
    assert len(by_variant["off"]) == old.requests and all(by_variant["off"])


def test_a_real_client_serves_the_split_to_the_service() -> None:
    client = flagplane.Client.from_document(split_document(5))
    traffic = TrafficGenerator(client, FLAG, Profile.healthy(), users=5000, seed=4, sleep=no_sleep)

    stats = traffic.run_requests(20_000)

    assert 0.04 < stats.totals["new"].requests / 20_000 < 0.06


def test_handle_request_raises_inside_the_guard_and_reports_the_outcome() -> None:
    client = TestClient()
    client.set(FLAG, True)
    slept: list[float] = []

    always_fails = Profile(old=Behaviour(0.0, 40.0), new=Behaviour(1.0, 90.0, jitter=0.0))
    enabled, ok, latency = handle_request(client, FLAG, {"key": "user-1"}, always_fails, random.Random(1), slept.append)
    assert (enabled, ok, latency) == (True, False, 90.0)
    assert slept == [0.09]  # the simulated latency is spent inside the guarded block
    assert client.recorded[-1].ok is False and client.recorded[-1].variant == "v0"

    client.set(FLAG, False)
    enabled, ok, _ = handle_request(client, FLAG, {"key": "user-1"}, always_fails, random.Random(1), no_sleep)
    assert (enabled, ok) == (False, True)
    assert client.recorded[-1].ok is True


def test_simulated_error_is_a_plain_exception_the_guard_reraises() -> None:
    client = TestClient()
    client.set(FLAG, True)
    with pytest.raises(SimulatedError), client.guard(FLAG, "user-1"):
        raise SimulatedError("boom")
    assert client.recorded[-1].ok is False


def test_users_are_distinct_and_carry_attributes() -> None:
    rng = random.Random(5)
    contexts = [user_context(rng, 3000) for _ in range(20_000)]
    keys = {c["key"] for c in contexts}
    assert 2900 < len(keys) <= 3000
    assert all({"key", "plan", "country"} <= set(c) for c in contexts)


def test_latency_stays_within_its_jitter() -> None:
    behaviour = Behaviour(0.01, 40.0, jitter=0.25)
    rng = random.Random(2)
    samples = [behaviour.latency(rng) for _ in range(5000)]
    assert min(samples) >= 30.0 and max(samples) <= 50.0
    assert 39.0 < sum(samples) / len(samples) < 41.0


@pytest.mark.parametrize("bad", [{"error_rate": 1.5, "latency_ms": 1}, {"error_rate": 0.1, "latency_ms": -1}])
def test_behaviour_rejects_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError):
        Behaviour(**bad)


def test_threads_pace_the_rate_and_stop_cleanly() -> None:
    client = flagplane.Client.from_document(split_document(50))
    traffic = TrafficGenerator(client, FLAG, Profile.healthy(latency_ms=1.0), rps=400, threads=4, seed=1)
    started = time.monotonic()
    traffic.start()

    def sent() -> int:
        return sum(t.requests for t in traffic.stats.snapshot().values())

    deadline = started + 30.0
    while sent() < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    traffic.stop(timeout=2.0)
    elapsed = time.monotonic() - started

    assert not traffic.running and not traffic.failures
    total = sent()
    assert total >= 200, "the threads sent too few requests"
    # Paced: never more than the rate allows (a loaded machine can only send fewer).
    assert total <= 400 * elapsed * 1.1 + 4

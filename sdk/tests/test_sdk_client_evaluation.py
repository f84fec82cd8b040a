"""Client evaluation API: results, misuse handling (default + one warning), thread safety,
the module-level default client and the testing helper."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

import flagplane
from flagplane import Client, Evaluation, Reason
from flagplane.testing import TestClient


@pytest.fixture
def client(flag_factory: Any, document_factory: Any) -> Client:
    layout = flag_factory(
        "layout",
        kind="multivariate",
        variant_type="string",
        variants=[{"key": "control", "value": "classic"}, {"key": "blue", "value": "blue-v2"}],
        off_variant="control",
        rules=[
            {
                "id": "pro",
                "description": "",
                "serve": {"variant": "blue"},
                "clauses": [
                    {
                        "attribute": "plan",
                        "op": "equals",
                        "values": ["pro"],
                        "negate": False,
                        "case_insensitive": False,
                    }
                ],
            }
        ],
        default={"variant": "control"},
    )
    document = document_factory(
        flag_factory("checkout"),
        flag_factory("killed", on=False),
        layout,
        flag_factory(
            "config",
            kind="multivariate",
            variant_type="json",
            variants=[{"key": "v", "value": {"limit": 3}}],
            off_variant="v",
            default={"variant": "v"},
        ),
    )
    return Client.from_document(document)


def test_is_enabled_with_a_string_key_equals_the_dict_form(client: Client) -> None:
    for i in range(200):
        key = f"user-{i}"
        assert client.is_enabled("checkout", key) == client.is_enabled("checkout", {"key": key})


def test_is_enabled_splits_roughly_in_half(client: Client) -> None:
    share = sum(client.is_enabled("checkout", f"user-{i}") for i in range(10_000)) / 10_000
    assert 0.47 < share < 0.53


def test_evaluate_reports_value_variant_reason_rule_and_bucket(client: Client) -> None:
    result = client.evaluate("layout", {"key": "u", "plan": "pro"})
    assert result == Evaluation("blue-v2", "blue", Reason.RULE_MATCH, "pro", None)
    split = client.evaluate("checkout", "user-42")
    assert split.reason == "SPLIT" and split.bucket == flagplane.bucket("checkout", "user-42")
    assert client.evaluate("killed", "u") == Evaluation(False, "off", "OFF", None, None)


def test_variant_returns_the_variant_value(client: Client) -> None:
    assert client.variant("layout", {"key": "u", "plan": "pro"}, default="x") == "blue-v2"
    assert client.variant("layout", {"key": "u"}, default="x") == "classic"


def test_json_values_are_copies_callers_may_mutate(client: Client) -> None:
    client.variant("config", "u")["limit"] = 99
    assert client.variant("config", "u") == {"limit": 3}


@pytest.mark.parametrize(
    ("call", "expected_default", "reason"),
    [
        (lambda c: c.evaluate("nope", "u", default=1), 1, Reason.FLAG_NOT_FOUND),
        (lambda c: c.evaluate("layout", 42, default="d"), "d", Reason.ERROR),
        (lambda c: c.evaluate("layout", ["u"], default="d"), "d", Reason.ERROR),
        (lambda c: c.evaluate("layout", "u", default=3), 3, Reason.ERROR),
        (lambda c: c.evaluate(["unhashable"], "u", default="d"), "d", Reason.ERROR),
    ],
    ids=["unknown-flag", "int-context", "list-context", "wrong-default-type", "bad-flag-key"],
)
def test_misuse_returns_the_default_with_a_reason(
    client: Client, call: Any, expected_default: Any, reason: str
) -> None:
    result = call(client)
    assert (result.value, result.variant, result.reason) == (expected_default, None, reason)


def test_is_enabled_on_a_non_boolean_flag_returns_the_default(client: Client) -> None:
    assert client.is_enabled("layout", "u", default=True) is True
    assert client.is_enabled("layout", "u") is False


def test_wrong_default_type_on_is_enabled_returns_that_default(client: Client) -> None:
    assert client.is_enabled("checkout", "user-1", default="yes") == "yes"  # type: ignore[arg-type]


def test_misuse_warns_once_per_flag(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flagplane"):
        for _ in range(5):
            client.is_enabled("missing-a", "u")
            client.is_enabled("missing-b", "u")
            client.variant("layout", 12345)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("missing-a" in m for m in messages) == 1
    assert sum("missing-b" in m for m in messages) == 1
    assert sum("layout" in m and "context" in m for m in messages) == 1


def test_a_hostile_context_mapping_cannot_make_evaluation_raise(client: Client) -> None:
    class Hostile(dict[str, Any]):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    assert client.variant("layout", Hostile(key="u"), default="safe") == "safe"


def test_evaluators_never_see_a_torn_document_while_documents_swap(
    flag_factory: Any, document_factory: Any
) -> None:
    docs = [
        flagplane.compile_document(
            document_factory(
                flag_factory("a", default={"variant": "on"}),
                flag_factory("b", default={"variant": "on"}),
                version=1,
            )
        ),
        flagplane.compile_document(
            document_factory(
                flag_factory("a", default={"variant": "off"}),
                flag_factory("b", default={"variant": "off"}),
                version=2,
            )
        ),
    ]
    client = Client.from_document(document_factory(flag_factory("a"), flag_factory("b")))
    stop = threading.Event()
    problems: list[str] = []

    def swapper() -> None:
        i = 0
        while not stop.is_set():
            client._install(docs[i % 2], "network")
            i += 1

    def reader() -> None:
        for _ in range(20_000):
            flags = client._flags  # what an evaluation sees: one consistent document
            a = client.evaluate("a", "u")
            if a.reason not in ("DEFAULT", "SPLIT") or not isinstance(a.value, bool):
                problems.append(repr(a))
            if flags["a"].constant_index != flags["b"].constant_index:
                problems.append("torn")

    threads = [threading.Thread(target=swapper)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert problems == []


def test_module_level_default_client(flag_factory: Any, document_factory: Any) -> None:
    assert flagplane.is_enabled("checkout", "u", default=True) is True
    assert flagplane.evaluate("checkout", "u").reason == Reason.NOT_READY
    doc = document_factory(flag_factory("checkout", default={"variant": "on"}))
    client = flagplane.init(offline=True, bootstrap=doc)
    try:
        assert flagplane.get_client() is client
        assert flagplane.is_enabled("checkout", "u") is True
        assert flagplane.variant("checkout", "u") is True
        assert flagplane.evaluate("checkout", "u").reason == Reason.DEFAULT
    finally:
        flagplane.close()
    assert flagplane.get_client() is None


def test_testing_client_serves_what_the_test_sets() -> None:
    flags = TestClient({"beta": False})
    flags.set("new-checkout", True)
    flags.set("layout", "blue")
    flags.set("limits", {"max": 3})
    assert flags.is_enabled("new-checkout", "anyone") is True
    assert flags.is_enabled("beta", "anyone") is False
    assert flags.variant("layout", "anyone", default="control") == "blue"
    assert flags.variant("limits", "anyone") == {"max": 3}
    flags.set("beta", True, for_keys=["alice"])
    assert flags.is_enabled("beta", "alice") is True
    assert flags.is_enabled("beta", "bob") is False
    flags.remove("layout")
    assert flags.variant("layout", "anyone", default="control") == "control"


def test_testing_client_records_guarded_outcomes() -> None:
    flags = TestClient({"new-checkout": True})
    with pytest.raises(ZeroDivisionError), flags.guard("new-checkout", "u") as enabled:
        assert enabled is True
        _ = 1 / 0
    flags.record("new-checkout", "v0", ok=True, latency_ms=12.5)
    assert [(r.variant, r.ok) for r in flags.recorded] == [("v0", False), ("v0", True)]


def test_a_segment_only_change_reports_every_flag_as_changed(
    flag_factory: Any, document_factory: Any
) -> None:
    client = Client.from_document(document_factory(flag_factory("a"), flag_factory("b")))
    events: list[Any] = []
    client.add_listener(events.append)
    changed = document_factory(flag_factory("a"), flag_factory("b"), version=2)
    changed["segments"] = {"s": {"key": "s", "included": ["x"], "excluded": [], "rules": []}}
    client._install(flagplane.compile_document(changed), "network")
    assert set(events[0].changed_flags) == {"a", "b"}

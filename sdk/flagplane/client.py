"""The Flagplane client: local evaluation from an atomically swapped snapshot, a background
refresher, a last-known-good cache on disk, and health metrics for rollouts.

Guarantees: evaluation methods never raise into caller code, never block on the network and
never take a lock; on misuse they log a warning once per flag and return the caller's default.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

import mmh3

from flagplane.bucketing import BUCKET_SPACE
from flagplane.engine import (
    CompiledFlag,
    Evaluation,
    Reason,
    _new_evaluation,
    as_context,
    compile_document,
    resolve,
    value_fits,
)
from flagplane.replica import ChangeEvent, Replica, Status, SyncState

__all__ = ["ChangeEvent", "Client", "Context", "Status", "SyncState"]

Context = Mapping[str, Any] | str

_hash = mmh3.hash


def _default_fits(variant_type: str, default: Any, want_bool: bool) -> bool:
    """A caller's default must be a value the flag could serve (None too, except for is_enabled)."""
    if want_bool:
        return default is True or default is False
    return default is None or value_fits(variant_type, default)


class Client(Replica):
    """Evaluate Flagplane flags locally.

    ``Client(sdk_key, base_url)`` starts a daemon thread that keeps the document current (a
    stream of changes from ``GET {base_url}/api/v1/sdk/stream``; with ``stream=False``, or
    while the stream cannot be had, polls of ``GET {base_url}/api/v1/sdk/config`` every
    ``poll_interval`` seconds, conditional on the ETag; see ``flagplane.sync``) and a daemon
    thread that flushes metrics every ``metrics_flush_interval`` seconds.
    Evaluation is synchronous, lock-free and does no I/O, so it is safe in threads and in async
    code alike.

    Keyword options: ``cache_path`` (last known good document on disk), ``bootstrap`` (a
    document dict or the path of a JSON file, served until the network answers),
    ``request_timeout``, ``send_metrics``, ``offline`` (no network at all), ``backoff_base``,
    ``backoff_max``, ``max_metrics_series``, ``stream``, ``stream_read_timeout`` (reconnect
    when not even a heartbeat came for that long).

    The document side (construction, the initial load, the swap, ``status``, listeners,
    ``close``) is ``flagplane.replica.Replica``'s; this class adds evaluation and health signals.
    """

    # ------------------------------------------------------------------------------------
    # Construction helpers

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Client:
        """An offline client serving ``document``: no thread, no network, no metrics.

        Raises ``InvalidDocument`` if the document is malformed (the one place a client raises:
        this is construction, not evaluation).
        """
        client = cls(offline=True, bootstrap=None)
        client._install(compile_document(document), "bootstrap")
        client._settled.set()
        return client

    # ------------------------------------------------------------------------------------
    # Evaluation (hot path: no locks, no I/O, no exceptions escape)

    # The three evaluators differ only in what they return. Each serves a well-formed call (a
    # known flag, a str or dict context, a default of the flag's type) through the engine's
    # ``resolve``, the one implementation of evaluation and bucketing; anything else goes to
    # ``_evaluate``, which says what is wrong and serves the default. One exception, for speed:
    # is_enabled(flag, "key") on a plain split by key repeats resolve()'s first case inline
    # (the call would cost as much as the rest of it, bench/sdk_eval.py); the golden vectors
    # run through every evaluator with string and dict contexts to keep the two equal.

    def is_enabled(self, flag_key: str, context: Context, default: bool = False) -> bool:
        """Whether a boolean flag is on for ``context`` (a dict of attributes, or a plain string
        meaning {"key": it}). Returns ``default`` when the flag is unknown, not boolean, the
        client has no document yet, or the call is malformed."""
        try:
            flag = self._flags[flag_key]
            if flag.is_boolean and (default is False or default is True):
                cls = context.__class__
                if cls is str and flag.key_slices is not None:
                    # resolve()'s first case, inlined (see above)
                    bucket_value = _hash(flag.salt_prefix + context, 0, False) % BUCKET_SPACE  # type: ignore[operator]
                    for threshold, index in flag.key_slices:
                        if bucket_value < threshold:
                            flag.counts[index] += 1
                            return flag.values[index]  # type: ignore[no-any-return]
                if cls is str or cls is dict:
                    index = resolve(flag, context)[0]
                    flag.counts[index] += 1
                    return flag.values[index]  # type: ignore[no-any-return]
        except Exception:
            pass
        return self._evaluate(flag_key, context, default, True, True).value  # type: ignore[no-any-return]

    def variant(self, flag_key: str, context: Context, default: Any = None) -> Any:
        """The value of the variant served to ``context`` (``default`` on any problem)."""
        try:
            flag = self._flags[flag_key]
            cls = context.__class__
            if (cls is str or cls is dict) and (
                default is None or _default_fits(flag.variant_type, default, False)
            ):
                index = resolve(flag, context)[0]
                flag.counts[index] += 1
                return flag.value_at(index)
        except Exception:
            pass
        return self._evaluate(flag_key, context, default, False, True).value

    def evaluate(self, flag_key: str, context: Context, default: Any = None) -> Evaluation:
        """The full result: Evaluation(value, variant, reason, rule, bucket).

        On a problem the value is ``default``, the variant None and the reason one of
        FLAG_NOT_FOUND, NOT_READY or ERROR.
        """
        try:
            flag = self._flags[flag_key]
            cls = context.__class__
            if (cls is str or cls is dict) and (
                default is None or _default_fits(flag.variant_type, default, False)
            ):
                index, reason, rule, bucket_value = resolve(flag, context)
                flag.counts[index] += 1
                return _new_evaluation(
                    (flag.value_at(index), flag.variant_keys[index], reason, rule, bucket_value)
                )
        except Exception:
            pass
        return self._evaluate(flag_key, context, default, False, True)

    def _evaluate(
        self, flag_key: Any, context: Any, default: Any, want_bool: bool, count: bool
    ) -> Evaluation:
        try:
            flag = self._flags.get(flag_key) if flag_key.__class__ is str else None
            if flag is None:
                if not isinstance(flag_key, str):
                    self._warn.warn(flag_key, "key", "flag keys are strings; serving the default")
                    return Evaluation(default, None, Reason.ERROR)
                if self._snapshot is None:
                    return Evaluation(default, None, Reason.NOT_READY)
                self._warn.warn(flag_key, "unknown", "unknown flag; serving the default")
                return Evaluation(default, None, Reason.FLAG_NOT_FOUND)
            ctx = as_context(context)
            if ctx is None:
                self._warn.warn(
                    flag_key,
                    "context",
                    f"context must be a dict of attributes or a string key, not "
                    f"{type(context).__name__}; serving the default",
                )
                return Evaluation(default, None, Reason.ERROR)
            if want_bool and not flag.is_boolean:
                self._warn.warn(
                    flag_key,
                    "not-boolean",
                    f"is_enabled() on a {flag.variant_type} flag (use variant()); "
                    "serving the default",
                )
                return Evaluation(default, None, Reason.ERROR)
            if not _default_fits(flag.variant_type, default, want_bool):
                self._warn.warn(
                    flag_key,
                    "default-type",
                    f"default {default!r} is not a {flag.variant_type} value; serving the default",
                )
                return Evaluation(default, None, Reason.ERROR)
            index, reason, rule, bucket_value = resolve(flag, ctx)
            if count:
                flag.counts[index] += 1
            return _new_evaluation(
                (flag.value_at(index), flag.variant_keys[index], reason, rule, bucket_value)
            )
        except Exception as exc:  # a bug or a hostile Mapping: never let it reach the caller
            self._warn.warn(
                flag_key, "exception", f"evaluation failed ({exc!r}); serving the default"
            )
            return Evaluation(default, None, Reason.ERROR)

    def variant_type(self, flag_key: str) -> str | None:
        """The flag's variant_type ("boolean", "string", "number", "json"), None if unknown."""
        flag = self.flag(flag_key)
        return None if flag is None else flag.variant_type

    def flag(self, flag_key: str) -> CompiledFlag | None:
        """The compiled flag now served under ``flag_key`` (read-only), None if unknown. Logs
        nothing: for integrations (OpenFeature) that report an unknown flag their own way."""
        return self._flags.get(flag_key) if isinstance(flag_key, str) else None

    # ------------------------------------------------------------------------------------
    # Health signals

    @contextlib.contextmanager
    def guard(self, flag_key: str, context: Context, default: bool = False) -> Iterator[bool]:
        """Evaluate a boolean flag and record how the guarded block went for the variant served:

            with client.guard("new-checkout", ctx) as enabled:
                checkout_v2() if enabled else checkout_v1()

        A block that raises records an error (the exception propagates unchanged); one that
        completes records a success. Both record the block's latency.
        """
        evaluation = self._evaluate(flag_key, context, default, True, True)
        started = time.perf_counter()
        try:
            yield evaluation.value
        except Exception:
            self._record_variant(flag_key, evaluation, False, started)
            raise
        self._record_variant(flag_key, evaluation, True, started)

    def _record_variant(
        self, flag_key: str, evaluation: Evaluation, ok: bool, started: float
    ) -> None:
        if evaluation.variant is None:
            return
        try:
            latency = (time.perf_counter() - started) * 1000.0
            self._metrics.record(flag_key, evaluation.variant, ok, latency, evaluation.bucket)
        except Exception as exc:
            self._warn.warn(flag_key, "record", f"could not record a health signal ({exc!r})")

    def record(
        self,
        flag_key: str,
        context_or_variant: Mapping[str, Any] | str,
        ok: bool = True,
        latency_ms: float | None = None,
    ) -> None:
        """Record a success (``ok=True``) or an error for one variant of a flag.

        ``context_or_variant`` is either a context dict (the flag is evaluated, without
        counting an evaluation, to find the variant and the unit's group) or a variant key
        string (the signal then counts for the variant but in no unit group, so rollouts judge
        it only through the totals: pass the context when you have it).
        """
        try:
            bucket: int | None = None
            if isinstance(context_or_variant, str):
                variant: str | None = context_or_variant
                flag = self._flags.get(flag_key)
                if flag is not None and variant not in flag.variant_keys:
                    self._warn.warn(
                        flag_key,
                        "record-variant",
                        f"record() for unknown variant {variant!r}; ignored",
                    )
                    return
            else:
                evaluation = self._evaluate(flag_key, context_or_variant, None, False, False)
                variant, bucket = evaluation.variant, evaluation.bucket
            if variant is None:
                return
            if latency_ms is not None and (
                isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float)
            ):
                self._warn.warn(flag_key, "latency", "latency_ms must be a number; ignored")
                latency_ms = None
            self._metrics.record(flag_key, variant, bool(ok), latency_ms, bucket)
        except Exception as exc:
            self._warn.warn(flag_key, "record", f"could not record a health signal ({exc!r})")

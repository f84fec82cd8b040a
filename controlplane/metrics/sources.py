"""Where health numbers come from, behind one small interface.

A ``MetricSource`` measures one arm (a set of variants) of a flag in one environment over a
window. Built in:

- ``HttpJsonSource``: one number read from a JSON document served over HTTP(S), e.g. an error
  rate an APM tool computes. The URL may use ``{environment_id}``, ``{flag_key}``,
  ``{variants}`` (comma-separated), ``{since}`` and ``{until}`` (RFC 3339) placeholders.
- ``PrometheusSource``: two PromQL queries per arm, the arm's bad events and its trials over
  the window, as ``ArmTotals``: a rule on Prometheus data compares arms, needs its minimum
  samples and treats no data as no data, exactly like one on SDK data (docs/metrics.md).

Every request goes through the guarded outbound client (``controlplane.outbound``).
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from django.utils import timezone

from controlplane import outbound
from controlplane.metrics.errors import SourceError
from controlplane.metrics.queries import ArmTotals

Measurement = ArmTotals | float
"""Counts with a latency histogram (SDK metrics), or a single number (external sources)."""

MAX_RESPONSE_BYTES = 1_000_000
PATH_TOKEN = re.compile(r"\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]|([^.\[\]]+)")


@runtime_checkable
class MetricSource(Protocol):
    def measure(
        self,
        environment_id: int,
        flag_key: str,
        variants: Sequence[str],
        since: datetime,
        until: datetime | None = None,
    ) -> Measurement:
        """The arm's measurement over ``[since, until)`` (``until`` None: up to now)."""
        ...


class HttpJsonSource:
    """GET ``url`` and read the number at ``json_path``.

    ``json_path`` is dotted keys and list indexes: ``data.0.value``, ``data[0].value`` or
    ``$.data[0].value``. The value must be a JSON number or a string holding one (Prometheus
    style); booleans, NaN and infinities are refused. Any failure (timeout, connection error,
    non-2xx status, invalid JSON, missing path, not a number) raises ``SourceError``.
    """

    def __init__(self, url: str, json_path: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.json_path = json_path
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._path = parse_path(json_path)

    def read(self, **placeholders: Any) -> float:
        """GET the URL (``placeholders`` filled in, URL-quoted) and return the number.

        Only ``{name}`` for the names given is replaced; other braces (PromQL label matchers,
        say) are left as they are.
        """
        url = self.url
        for name, value in placeholders.items():
            url = url.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
        return number_at(get_json(url, self.timeout, self.headers), self._path, self.json_path)

    def measure(
        self,
        environment_id: int,
        flag_key: str,
        variants: Sequence[str],
        since: datetime,
        until: datetime | None = None,
    ) -> float:
        return self.read(
            environment_id=environment_id,
            flag_key=flag_key,
            variants=",".join(variants),
            since=_rfc3339(since),
            until=_rfc3339(until or timezone.now()),
        )


class PrometheusSource:
    """Counts of one arm from Prometheus: ``events_query`` (bad events) over ``total_query`` (trials).

    Both are PromQL templates evaluated as instant queries at the end of the period, with
    ``{variant}`` (the arm's variant, for ``variant="{variant}"``), ``{variants}`` (a regex of the
    arm's variants, for ``variant=~"{variants}"``; the engine's arms are one variant each),
    ``{window}`` (the period as a range, e.g. ``300s``), ``{flag}`` and ``{environment}`` filled
    in. Each must return one number: a scalar or a vector of one series. No series, several
    series, NaN or a negative number is a ``SourceError``, i.e. no data for this tick; write
    ``... or vector(0)`` where a missing series means zero.
    """

    def __init__(
        self,
        base_url: str,
        events_query: str,
        total_query: str,
        environment: str = "",
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.events_query = events_query
        self.total_query = total_query
        self.environment = environment
        self.timeout = timeout

    def measure(
        self,
        environment_id: int,
        flag_key: str,
        variants: Sequence[str],
        since: datetime,
        until: datetime | None = None,
    ) -> ArmTotals:
        until = until or timezone.now()
        window_s = max(1, round((until - since).total_seconds()))
        if len(variants) != 1 and "{variant}" in self.events_query + self.total_query:
            raise SourceError("an arm of several variants needs {variants} (a regex, for =~) in its queries")
        placeholders = {
            "variant": promql_string(variants[0]),
            "variants": promql_string("|".join(re.escape(variant) for variant in variants)),
            "window": f"{window_s}s",
            "flag": promql_string(flag_key),
            "environment": promql_string(self.environment),
        }
        total = self.query(fill(self.total_query, placeholders), until)
        events = self.query(fill(self.events_query, placeholders), until)
        requests = round(total)
        return ArmTotals(
            requests=requests,
            errors=min(round(events), requests),  # increase() extrapolates both counters a little
            evaluations=requests,
            histogram=(),
            bounds_ms=(),
            latency_sum=0.0,
        )

    def query(self, promql: str, at: datetime) -> float:
        """The one number an instant query returns."""
        url = f"{self.base_url}/api/v1/query?" + urllib.parse.urlencode(
            {"query": promql, "time": f"{at.timestamp():.3f}"}
        )
        try:
            document = get_json(url, self.timeout)
        except SourceError as exc:
            raise SourceError(f"the query {promql!r}: {exc}") from exc
        if not isinstance(document, dict) or document.get("status") != "success":
            kind = document.get("errorType", "") if isinstance(document, dict) else ""
            raise SourceError(f"Prometheus refused the query {promql!r}" + (f" ({kind})" if kind else ""))
        data = document.get("data") or {}
        if data.get("resultType") == "scalar":
            value = data.get("result")
        else:
            series = data.get("result") or []
            if len(series) != 1:
                raise SourceError(
                    f"the query {promql!r} returned no data" if not series
                    else f"the query {promql!r} returned {len(series)} series; aggregate them into one, e.g. sum(...)"
                )  # fmt: skip
            value = series[0].get("value")
        number = number_at(value, [1], "value.1") if isinstance(value, list) and len(value) == 2 else math.nan
        if math.isnan(number) or number < 0:
            raise SourceError(f"the query {promql!r} gave no count (NaN or negative)")
        return number


def promql_string(value: str) -> str:
    """``value`` escaped to sit between the double quotes of a PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def fill(template: str, placeholders: dict[str, str]) -> str:
    """Replace ``{name}`` for the names given; other braces (label matchers) stay as they are."""
    for name, value in placeholders.items():
        template = template.replace("{" + name + "}", value)
    return template


def get_json(url: str, timeout: float, headers: dict[str, str] | None = None) -> Any:
    """GET ``url`` through the guarded client and decode its JSON; any failure is a ``SourceError``."""
    shown = _without_query(url)
    headers = {"Accept": "application/json", **(headers or {})}
    try:
        answer = outbound.request("GET", url, timeout=timeout, headers=headers, read_limit=MAX_RESPONSE_BYTES)
    except outbound.OutboundError as exc:
        raise SourceError(f"{shown}: {exc}") from exc
    if not answer.ok:
        raise SourceError(f"{shown} answered {answer.summary}")
    try:
        return json.loads(answer.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SourceError(f"{shown}: the answer is not JSON") from None


def _without_query(url: str) -> str:
    """The URL without its query string, which may hold a token; for error messages."""
    return urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_path(json_path: str) -> list[str | int]:
    """``"$.data[0].value"`` → ``["data", 0, "value"]``; digits between dots are list indexes too."""
    text = json_path.strip()
    if text.startswith("$"):
        text = text[1:]
    text = text.lstrip(".")
    if not text:
        raise SourceError(f"invalid JSON path {json_path!r}: it names no value")
    tokens: list[str | int] = []
    position = 0
    while position < len(text):
        if text[position] == "." and position:
            position += 1
        match = PATH_TOKEN.match(text, position)
        if match is None:
            raise SourceError(f"invalid JSON path {json_path!r} at character {position + 1}")
        index, quoted, name = match.groups()
        if index is not None:
            tokens.append(int(index))
        elif quoted is not None:
            tokens.append(quoted)
        else:
            tokens.append(int(name) if name.isdecimal() else name)
        position = match.end()
    return tokens


def number_at(document: Any, path: Sequence[str | int], json_path: str = "") -> float:
    value = document
    for depth, token in enumerate(path):
        where = ".".join(str(t) for t in path[: depth + 1])
        if isinstance(token, int) and isinstance(value, list):
            if token >= len(value):
                raise SourceError(f"JSON path {json_path!r}: no item {token} at {where!r} (list of {len(value)})")
            value = value[token]
        elif isinstance(value, dict) and str(token) in value:
            value = value[str(token)]
        else:
            raise SourceError(f"JSON path {json_path!r}: nothing at {where!r}")
    # The messages name the JSON type, never the value: they are stored and shown, and the
    # answer is someone else's data.
    if isinstance(value, bool):
        raise SourceError(f"JSON path {json_path!r}: a boolean is not a number")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SourceError(f"JSON path {json_path!r}: a string that is not a number") from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        kind = "an object" if isinstance(value, dict) else "a list" if isinstance(value, list) else "null"
        raise SourceError(f"JSON path {json_path!r}: {kind} is not a number")
    if not math.isfinite(number):
        raise SourceError(f"JSON path {json_path!r}: not a finite number")
    return number

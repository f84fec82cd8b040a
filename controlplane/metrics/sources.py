"""Where health numbers come from, behind one small interface.

A ``MetricSource`` measures one arm (a set of variants) of a flag in one environment over a
window. Built in:

- ``SdkMetricSource``: what the SDKs reported (``queries.arm_counts``), as ``ArmTotals``.
- ``HttpJsonSource``: one number read from a JSON document served over HTTP(S), e.g. an error
  rate an APM tool computes. The URL may use ``{environment_id}``, ``{flag_key}``,
  ``{variants}`` (comma-separated), ``{since}`` and ``{until}`` (RFC 3339) placeholders.

A Prometheus source fits the same interface later: ``PrometheusSource(base_url, promql)``
whose ``measure`` formats the PromQL with the same placeholders (``{variants}`` as a regex
alternation for ``variant=~"…"``), GETs ``/api/v1/query?query=…&time={until}`` and reads
``data.result.0.value.1`` (Prometheus sends numbers as strings, which ``HttpJsonSource``
already accepts), raising ``SourceError`` on an empty result.
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
from controlplane.metrics.queries import ArmTotals, arm_counts

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


class SdkMetricSource:
    """Counts the SDKs reported to ``POST /api/v1/metrics``."""

    def measure(
        self,
        environment_id: int,
        flag_key: str,
        variants: Sequence[str],
        since: datetime,
        until: datetime | None = None,
    ) -> ArmTotals:
        return arm_counts(environment_id, flag_key, variants, since, until)


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
        shown = _without_query(url)
        headers = {"Accept": "application/json", **self.headers}
        try:
            answer = outbound.request("GET", url, timeout=self.timeout, headers=headers, read_limit=MAX_RESPONSE_BYTES)
        except outbound.OutboundError as exc:
            raise SourceError(f"{shown}: {exc}") from exc
        if not answer.ok:
            raise SourceError(f"{shown} answered {answer.summary}")
        try:
            document = json.loads(answer.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise SourceError(f"{shown}: the answer is not JSON") from None
        return number_at(document, self._path, self.json_path)

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

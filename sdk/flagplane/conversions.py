"""Conversions of attribute and clause values for typed operators.

Every converter returns ``None`` when the value does not convert; the caller then treats
the clause as not matching (never an error).
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, datetime

_INT_RE = re.compile(r"\s*[+-]?\d+\s*")
_FLOAT_RE = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_SEMVER_RE = re.compile(
    r"v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)

Number = int | float
SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]
IpKey = tuple[int, int]


def to_number(value: object) -> Number | None:
    """int/float (not bool) or a decimal numeric string; NaN and infinities do not convert."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if _INT_RE.fullmatch(value):
            return int(value)
        if _FLOAT_RE.fullmatch(value):
            number = float(value)
            return number if math.isfinite(number) else None
    return None


def to_semver(value: object) -> SemverKey | None:
    """A SemVer 2.0 precedence key. "1" and "1.2" mean 1.0.0 and 1.2.0; a leading "v" is allowed.

    Build metadata is ignored, as SemVer precedence requires.
    """
    if not isinstance(value, str):
        return None
    match = _SEMVER_RE.fullmatch(value)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor or 0), int(patch or 0), 1, ())
    identifiers: list[tuple[int, int | str]] = []
    for part in pre.split("."):
        if part.isdigit():
            if len(part) > 1 and part[0] == "0":
                return None
            identifiers.append((0, int(part)))
        else:
            identifiers.append((1, part))
    return (int(major), int(minor or 0), int(patch or 0), 0, tuple(identifiers))


def to_epoch_ms(value: object) -> float | None:
    """Epoch milliseconds from a number, or from an RFC 3339 / ISO 8601 string (naive = UTC)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    if len(text) > 10 and text[10] in ("t", " "):
        text = text[:10] + "T" + text[11:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000.0


def to_ip(value: object) -> IpKey | None:
    """(IP version, address as int) from an IPv4/IPv6 address string; IPv4-mapped IPv6
    addresses count as IPv4."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # "::ffff:10.0.0.1" is the IPv4 address 10.0.0.1
    return (address.version, int(address))


def to_network(value: object) -> tuple[int, int, int] | None:
    """(IP version, network address as int, netmask as int) from a CIDR string."""
    if not isinstance(value, str):
        return None
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    return (network.version, int(network.network_address), int(network.netmask))

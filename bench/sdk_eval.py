"""Benchmark the Flagplane Python SDK's evaluation hot path against a lean reference and peers.

Run it in a separate venv that has the peer SDKs (never in the SDK's own dependencies):

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install -r requirements/bench.txt
    /tmp/benchvenv/bin/pip install --no-deps -e ./sdk
    /tmp/benchvenv/bin/python bench/sdk_eval.py            # add --quick for a fast smoke run

Every number is nanoseconds per call: the median over interleaved repeats of a loop of calls
timed with time.perf_counter_ns; ratios are medians of per-repeat ratios, which are robust to
a machine whose load changes during the run. Peers are bootstrapped offline with the network blocked at the
socket level, and each is checked to enable about half of the ids. A peer that cannot be
imported or made to work offline is reported and skipped. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sdk"))

import mmh3  # noqa: E402

import flagplane  # noqa: E402
from flagplane import Client  # noqa: E402

FLAG = "new-checkout"
Loop = Callable[[], int]  # runs the benchmark loop once, returns how many ids were enabled


def block_network() -> None:
    """Any socket connection or DNS lookup in this process now fails immediately."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network blocked by bench/sdk_eval.py")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


# ---------------------------------------------------------------------------------------------
# Documents


def clause(attribute: str, op: str, values: list[Any]) -> dict[str, Any]:
    return {"attribute": attribute, "op": op, "values": values, "negate": False, "case_insensitive": False}


def boolean_flag(
    key: str,
    rules: list[dict[str, Any]] | None = None,
    on: bool = True,
    targets: list[dict[str, Any]] | None = None,
    percent_on: int = 50,
) -> dict[str, Any]:
    weight = percent_on * 1000
    return {
        "key": key,
        "kind": "boolean",
        "variant_type": "boolean",
        "version": 1,
        "on": on,
        "salt": key,
        "bucket_by": "key",
        "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
        "off_variant": "off",
        "targets": targets or [],
        "rules": rules or [],
        "default": {"split": [{"variant": "on", "weight": weight}, {"variant": "off", "weight": 100_000 - weight}]},
    }


SEGMENT = {
    "key": "beta",
    "included": [f"beta-{i}" for i in range(100)],
    "excluded": ["user-0"],
    "rules": [{"clauses": [clause("email", "ends_with", ["@acme.com"])]}],
}

RULES = [
    {
        "id": "eu",
        "description": "",
        "clauses": [clause("country", "in", ["DE", "FR", "NL"])],
        "serve": {"variant": "on"},
    },
    {
        "id": "enterprise",
        "description": "",
        "clauses": [clause("plan", "equals", ["enterprise"]), clause("seats", "num_gte", [50])],
        "serve": {"variant": "on"},
    },
    {"id": "beta", "description": "", "clauses": [clause("key", "in_segment", ["beta"])], "serve": {"variant": "on"}},
]


def small_document() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "project": "bench",
        "environment": "bench",
        "version": 1,
        "flags": {FLAG: boolean_flag(FLAG), "rules-flag": boolean_flag("rules-flag", RULES)},
        "segments": {"beta": SEGMENT},
    }


def large_document(n: int = 10_000) -> dict[str, Any]:
    """A realistic mix: 60% plain splits, 20% with rules, 10% with targets, 10% killed."""
    flags: dict[str, Any] = {}
    for i in range(n):
        key = f"flag-{i:05d}"
        kind = i % 10
        if kind < 6:
            flags[key] = boolean_flag(key, percent_on=50)
        elif kind < 8:
            flags[key] = boolean_flag(key, RULES[: 1 + i % 3])
        elif kind == 8:
            flags[key] = boolean_flag(key, targets=[{"variant": "on", "keys": [f"user-{j}" for j in range(10)]}])
        else:
            flags[key] = boolean_flag(key, on=False)
    segments = {"beta": SEGMENT}
    return {
        "schema_version": 1,
        "project": "bench",
        "environment": "bench",
        "version": 1,
        "flags": flags,
        "segments": segments,
    }


# ---------------------------------------------------------------------------------------------
# Our SDK and the lean reference


def ours(ids: list[str]) -> dict[str, Loop]:
    client = Client.from_document(small_document())
    big = Client.from_document(large_document())
    split_flags = [k for k, f in big._flags.items() if f.key_slices is not None]
    pairs = [(split_flags[i % len(split_flags)], uid) for i, uid in enumerate(ids)]
    contexts = [{"key": uid, "country": "US", "plan": "free", "seats": 3, "email": f"{uid}@example.com"} for uid in ids]

    def split() -> int:
        is_enabled = client.is_enabled
        n = 0
        for uid in ids:
            if is_enabled(FLAG, uid):
                n += 1
        return n

    def rules() -> int:
        is_enabled = client.is_enabled
        n = 0
        for ctx in contexts:
            if is_enabled("rules-flag", ctx):
                n += 1
        return n

    def flags10k() -> int:
        is_enabled = big.is_enabled
        n = 0
        for flag, uid in pairs:
            if is_enabled(flag, uid):
                n += 1
        return n

    def evaluate() -> int:
        evaluate_ = client.evaluate
        n = 0
        for uid in ids:
            if evaluate_(FLAG, uid).value:
                n += 1
        return n

    return {"split": split, "rules": rules, "flags10k": flags10k, "evaluate": evaluate}


LEAN_FLAGS = {FLAG: (FLAG, 50_000)}


def lean_is_enabled(flag: str, uid: str) -> bool:
    """The hand-written floor: a dict lookup, one mmh3 call, one comparison."""
    salt, threshold = LEAN_FLAGS[flag]
    return mmh3.hash(salt + ":" + uid, 0, False) % 100_000 < threshold


def lean(ids: list[str]) -> Loop:
    def run() -> int:
        n = 0
        for uid in ids:
            if lean_is_enabled(FLAG, uid):
                n += 1
        return n

    return run


# ---------------------------------------------------------------------------------------------
# Peers (each returns a loop, or raises to be reported as unavailable)


def peer_growthbook(ids: list[str]) -> Loop:
    from growthbook import GrowthBook

    gb = GrowthBook(
        features={FLAG: {"defaultValue": False, "rules": [{"force": True, "coverage": 0.5, "hashAttribute": "id"}]}}
    )

    def run() -> int:
        n = 0
        for uid in ids:
            gb.set_attributes({"id": uid})
            if gb.is_on(FLAG):
                n += 1
        return n

    return run


def peer_posthog(ids: list[str]) -> Loop:
    from posthog import Posthog

    client = Posthog(
        "phc_bench",
        secret_key="phx_bench",
        host="http://127.0.0.1:9",
        poll_interval=3600,
        send=False,
        sync_mode=True,
        disable_geoip=True,
    )
    client.feature_flags = [
        {"id": 1, "key": FLAG, "active": True, "filters": {"groups": [{"properties": [], "rollout_percentage": 50}]}}
    ]

    def run() -> int:
        n = 0
        for uid in ids:
            if client.feature_enabled(FLAG, uid, only_evaluate_locally=True, send_feature_flag_events=False):
                n += 1
        return n

    return run


def peer_flagsmith(ids: list[str]) -> Loop:
    from flagsmith import Flagsmith
    from flagsmith.offline_handlers import LocalFileHandler

    environment = {
        "api_key": "bench",
        "name": "bench",
        "updated_at": "2026-01-01T00:00:00Z",
        "project": {
            "segments": [
                {
                    "id": 1,
                    "name": "half",
                    "rules": [
                        {
                            "type": "ALL",
                            "rules": [],
                            "conditions": [{"operator": "PERCENTAGE_SPLIT", "property_": "", "value": "50"}],
                        }
                    ],
                    "feature_states": [
                        {
                            "feature": {"id": 1, "name": FLAG},
                            "enabled": True,
                            "django_id": 2,
                            "feature_state_value": None,
                            "feature_segment": {"priority": 0},
                        }
                    ],
                }
            ]
        },
        "feature_states": [
            {"feature": {"id": 1, "name": FLAG}, "enabled": False, "django_id": 1, "feature_state_value": None}
        ],
        "identity_overrides": [],
    }
    path = Path(tempfile.mkdtemp()) / "environment.json"
    path.write_text(json.dumps(environment))
    client = Flagsmith(offline_mode=True, offline_handler=LocalFileHandler(str(path)))

    def run() -> int:
        n = 0
        for uid in ids:
            if client.get_identity_flags(uid).is_feature_enabled(FLAG):
                n += 1
        return n

    return run


def peer_unleash(ids: list[str]) -> Loop:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache
    from UnleashClient.utils import InstanceAllowType

    cache = FileCache("bench", directory=tempfile.mkdtemp())
    cache.bootstrap_from_dict(
        {
            "version": 2,
            "features": [
                {
                    "name": FLAG,
                    "enabled": True,
                    "strategies": [
                        {
                            "name": "flexibleRollout",
                            "parameters": {"rollout": "50", "stickiness": "default", "groupId": FLAG},
                        }
                    ],
                }
            ],
        }
    )
    client = UnleashClient(
        "http://127.0.0.1:9",
        "bench",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
        refresh_interval=3600,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client(fetch_toggles=False)

    def run() -> int:
        n = 0
        for uid in ids:
            if client.is_enabled(FLAG, {"userId": uid}):
                n += 1
        return n

    return run


def peer_openfeature(ids: list[str]) -> Loop:
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    from flagplane.openfeature import FlagplaneProvider

    api.set_provider(FlagplaneProvider(Client.from_document(small_document())))
    client = api.get_client()

    def run() -> int:
        n = 0
        for uid in ids:
            if client.get_boolean_value(FLAG, False, EvaluationContext(uid)):
                n += 1
        return n

    return run


PEERS: dict[str, Callable[[list[str]], Loop]] = {
    "growthbook": peer_growthbook,
    "posthog": peer_posthog,
    "flagsmith": peer_flagsmith,
    "unleash": peer_unleash,
    "openfeature(flagplane)": peer_openfeature,
}

# ---------------------------------------------------------------------------------------------
# Measurement


def time_loop(loop: Loop, calls: int) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter_ns()
    enabled = loop()
    return (time.perf_counter_ns() - start) / calls, enabled


def measure(loops: dict[str, tuple[Loop, int]], repeats: int) -> dict[str, list[float]]:
    """ns/call samples per benchmark. In each repeat every benchmark runs once, in alternating
    order, so that machine noise hits all of them alike; ratios are taken per repeat."""
    samples: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            loop, calls = loops[name]
            samples[name].append(time_loop(loop, calls)[0])
    return samples


def ratio(samples: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Median over repeats of numerator/denominator measured in the same repeat."""
    pairs = zip(samples[numerator], samples[denominator], strict=True)
    return statistics.median(a / b for a, b in pairs)


def about_half(enabled: int, calls: int) -> bool:
    return 0.45 <= enabled / calls <= 0.55


def split_with_swapper(ids: list[str]) -> Loop:
    """The split loop while a background thread swaps in a new snapshot every 10 ms (the
    refresher's code path). The swapper thread lives for the whole benchmark but only swaps
    while this loop runs, so the measurement interleaves fairly with the others."""
    client = Client.from_document(small_document())
    snapshots = [flagplane.compile_document(small_document()) for _ in range(2)]
    active = threading.Event()
    swaps = 0

    def swapper() -> None:
        nonlocal swaps
        while True:
            active.wait()
            time.sleep(0.01)
            if active.is_set():
                client._install(snapshots[swaps % 2], "network")
                swaps += 1

    threading.Thread(target=swapper, daemon=True).start()

    def run() -> int:
        is_enabled = client.is_enabled
        n = 0
        active.set()
        for uid in ids:
            if is_enabled(FLAG, uid):
                n += 1
        active.clear()
        if swaps == 0 and len(ids) >= 100_000:
            raise RuntimeError("the swapper never ran")
        return n

    return run


RSS_SCRIPT = """
import gc, json, sys
sys.path.insert(0, {sdk!r})
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import flagplane
base = rss_mb()
with open({path!r}, "rb") as handle:
    body = handle.read()                      # the bytes the network would hand over
client = flagplane.Client.from_document(json.loads(body))
del body
gc.collect()
assert client.is_enabled("flag-00000", "user-1") in (True, False)
print(json.dumps({{"base_mb": base, "rss_mb": rss_mb()}}))
"""


def rss_10k() -> dict[str, float]:
    """Whole-process RSS of a fresh interpreter serving a 10,000-flag document."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "document.json"
        path.write_text(json.dumps(large_document(10_000)))
        script = RSS_SCRIPT.format(sdk=str(REPO / "sdk"), path=str(path))
        out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="calls per loop for ours")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20k calls, 3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.repeats = 20_000, 3
    warnings.simplefilter("ignore")
    block_network()

    ids = [f"user-{i}" for i in range(args.calls)]
    print(
        f"python {sys.version.split()[0]}, flagplane {flagplane.__version__}, "
        f"{args.calls} calls x {args.repeats} interleaved repeats, network blocked"
    )

    loops: dict[str, tuple[Loop, int]] = {"lean": (lean(ids), len(ids))}
    for name, loop in ours(ids).items():
        loops[name] = (loop, len(ids))
    loops["split+swap10ms"] = (split_with_swapper(ids), len(ids))

    peer_names: list[str] = []
    for name, factory in PEERS.items():
        try:
            probe_ids = ids[:2000]
            probe = factory(probe_ids)
            per_call, enabled = time_loop(probe, len(probe_ids))
            if not about_half(enabled, len(probe_ids)):
                print(f"peer {name}: SKIPPED, enabled {enabled}/{len(probe_ids)} ids, not ~50%")
                continue
            calls = int(min(len(ids), max(2000, 0.25e9 / max(per_call, 1.0))))
            loops[name] = (factory(ids[:calls]), calls)
            peer_names.append(name)
        except Exception as exc:  # not installed, or cannot run offline
            print(f"peer {name}: UNAVAILABLE ({type(exc).__name__}: {exc})")

    for name, (loop, calls) in loops.items():
        enabled = loop()
        if name != "rules" and not about_half(enabled, calls):
            print(f"warning: {name} enabled {enabled}/{calls}")

    samples = measure(loops, args.repeats)
    results = {name: statistics.median(values) for name, values in samples.items()}
    rss = rss_10k()

    print(f"{'benchmark':<26}{'ns/call':>12}{'x split':>10}")
    for name, value in results.items():
        print(f"{name:<26}{value:>12.0f}{ratio(samples, name, 'split'):>10.2f}")
    print(
        f"RSS with a 10,000-flag document: {rss['rss_mb']:.1f} MB "
        f"(interpreter + flagplane import alone: {rss['base_mb']:.1f} MB)"
    )

    split_ns = results["split"]
    x_lean = ratio(samples, "split", "lean")
    x_swap = ratio(samples, "split+swap10ms", "split")
    real_peers = [p for p in peer_names if not p.startswith("openfeature")]
    best_peer = min(real_peers, key=lambda p: results[p]) if real_peers else "none"
    x_best = ratio(samples, best_peer, "split") if real_peers else 0.0
    checks = [
        (f"split within 2.5x of lean ({x_lean:.2f}x)", x_lean <= 2.5),
        (f">=10x faster than the fastest peer, {best_peer} ({x_best:.1f}x)", x_best >= 10),
        (f"rules case under 3 us ({results['rules']:.0f} ns)", results["rules"] < 3000),
        (f"RSS for 10k flags under 60 MB ({rss['rss_mb']:.1f} MB)", rss["rss_mb"] < 60),
        (f"no slowdown with a 10 ms swapper ({x_swap:.2f}x)", x_swap < 1.15),
    ]
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    print(
        f"sdk_eval: split_ns={split_ns:.0f} x_lean={x_lean:.2f} x_best_peer={x_best:.1f} "
        f"best_peer={best_peer} rules_ns={results['rules']:.0f} "
        f"flags10k_ns={results['flags10k']:.0f} evaluate_ns={results['evaluate']:.0f} "
        f"rss10k_mb={rss['rss_mb']:.1f}"
    )


if __name__ == "__main__":
    main()

"""Server CPU of one OFREP bulk evaluation: 100 flags for one context.

Times what a request costs once the key is known and the environment's document is compiled in
memory (the serving edge keeps both there): parsing the request body, the bulk ETag, evaluating
every flag through ``flagplane.resolution`` and serialising the answer; and the 304 path
(If-None-Match matches: no evaluation at all). CPU time is ``time.process_time``, one thread.
The flags are those of bench/document_build.py (five rules each: string, segment + semver,
country split, CIDR, number + regex) plus static, split and disabled flags.
Usage: ``.venv/bin/python bench/ofrep.py [--flags 100] [--repeats 2000]``. Target: < 1 ms.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sdk"))
sys.path.insert(0, str(ROOT / "bench"))

from document_build import rules_for  # noqa: E402
from percentiles import percentile  # noqa: E402

from controlplane.ofrep import evaluation  # noqa: E402
from flagplane.engine import compile_document  # noqa: E402

BOOLEAN = [{"key": "on", "value": True}, {"key": "off", "value": False}]
HALF = {"split": [{"variant": "on", "weight": 50_000}, {"variant": "off", "weight": 50_000}]}


def flag(index: int) -> dict:
    kind = index % 4  # 50 with rules, 25 static, 25 split (every 8th disabled)
    entry = {
        "key": f"flag-{index:03d}",
        "kind": "boolean",
        "variant_type": "boolean",
        "version": 1,
        "on": index % 8 != 7,
        "salt": f"flag-{index:03d}",
        "bucket_by": "key",
        "variants": BOOLEAN,
        "off_variant": "off",
        "targets": [{"variant": "on", "keys": [f"vip-{index}"]}] if kind < 2 else [],
        "rules": rules_for(index) if kind < 2 else [],
        "default": HALF if kind != 2 else {"variant": "on"},
        "metadata": {"team": "web", "ticket": index},
        "client_side": True,
    }
    return entry


def document(flags: int) -> dict:
    return {
        "schema_version": 1,
        "project": "bench",
        "environment": "production",
        "version": 1,
        "flags": {f["key"]: f for f in (flag(i) for i in range(flags))},
        "segments": {"beta": {"key": "beta", "included": ["user-7"], "excluded": [], "rules": []}},
    }


BODY = json.dumps(
    {
        "context": {
            "targetingKey": "user-4242",
            "email": "someone@example.org",
            "plan": "free",
            "country": "DE",
            "app_version": "3.4.1",
            "ip": "203.0.113.7",
            "orders": 3,
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        }
    }
).encode()


def bulk(snapshot) -> bytes:
    context = evaluation.parse_context(BODY)
    evaluation.bulk_etag(snapshot, context, True)
    answer = evaluation.evaluate_all(snapshot, context, True)
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()


def not_modified(snapshot) -> str:
    return evaluation.bulk_etag(snapshot, evaluation.parse_context(BODY), True)


def cpu_ms(work, snapshot, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        work(snapshot)
        samples.append((time.process_time() - started) * 1000)
    return samples


def cpu_ms_batched(work, snapshot, repeats: int, batch: int = 50) -> list[float]:
    """process_time has a coarse clock on some systems: time batches, report per call."""
    samples = []
    for _ in range(max(1, repeats // batch)):
        started = time.process_time()
        for _ in range(batch):
            work(snapshot)
        samples.append((time.process_time() - started) * 1000 / batch)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    snapshot = compile_document(document(args.flags))
    body = bulk(snapshot)
    answered = json.loads(body)["flags"]
    assert len(answered) == args.flags, len(answered)
    for _ in range(200):  # warm up
        bulk(snapshot)
    full = cpu_ms_batched(bulk, snapshot, args.repeats)
    cached = cpu_ms_batched(not_modified, snapshot, args.repeats)
    full_ms, p95_ms = statistics.median(full), percentile(full, 0.95)
    print(f"flags={args.flags} repeats={args.repeats} answer={len(body)} bytes")
    print(f"bulk evaluation, CPU per request: median {full_ms:.3f} ms, p95 {p95_ms:.3f} ms (target < 1 ms)")
    print(f"304 (If-None-Match matches), CPU per request: median {statistics.median(cached) * 1000:.1f} us")
    print(
        f"ofrep: flags={args.flags} bulk_cpu_ms={full_ms:.3f} bulk_cpu_p95_ms={p95_ms:.3f} "
        f"not_modified_cpu_us={statistics.median(cached) * 1000:.1f} under_1ms={'yes' if p95_ms < 1 else 'no'}"
    )


if __name__ == "__main__":
    main()

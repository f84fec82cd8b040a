"""Past capacity the edge refuses SDK requests quickly, with 503 and Retry-After, instead of
letting them queue into timeouts; a key due for its periodic check is still answered at once."""

import asyncio
import json
import time

import pytest
import redis
import redis.asyncio as aioredis
from django.conf import settings

from controlplane.documents.services import rebuild
from controlplane.edge.keys import KeyCache
from controlplane.projects import sdk_keys
from controlplane.projects.sdk_keys import KeyInfo
from tests.edge.helpers import WebServer
from tests.helpers import wait_for

CONFIG = "/api/v1/sdk/config"


async def burst(port: int, key: str, etag: str, connections: int) -> list[tuple[int, dict[str, str], bytes]]:
    """One request on each of ``connections`` open keep-alive connections, all sent at once (the
    server reads them together); every answer, each within 30 s."""
    opened = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    request = (
        f"GET {CONFIG} HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {key}\r\nIf-None-Match: {etag}\r\n\r\n"
    ).encode()
    for _, writer in opened:
        writer.write(request)

    async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
        return int(head[0].split()[1]), headers, await reader.readexactly(int(headers.get("content-length", 0)))

    try:
        return await asyncio.wait_for(asyncio.gather(*(answer(reader) for reader, _ in opened)), 30)
    finally:
        for _, writer in opened:
            writer.close()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_requests_that_waited_past_the_bound_get_503_with_retry_after_and_none_hang(production, sdk_key, tmp_path):
    document = rebuild(production.id)
    # One web process that lets a request wait 5 ms at most: a few hundred requests read at
    # once are more than it answers in that time.
    edge = WebServer(tmp_path / "edge.log", workers=1, EDGE_MAX_QUEUE_MS="5")
    edge.start()
    try:
        wait_for(lambda: edge.get(CONFIG, sdk_key, If_None_Match=document.etag).status == 304)
        answers = asyncio.run(burst(edge.port, sdk_key, document.etag, 500))
        statuses = [status for status, _, _ in answers]
        assert len(answers) == 500 and set(statuses) <= {304, 503}, statuses
        refused = [(headers, body) for status, headers, body in answers if status == 503]
        assert refused, "nothing was shed"
        for headers, body in refused:
            assert 1 <= int(headers["retry-after"]) <= 3
            assert "capacity" in json.loads(body)["detail"]
        # Shedding ends with the overload: the next request is answered from memory.
        wait_for(lambda: edge.get(CONFIG, sdk_key, If_None_Match=document.etag).status == 304)
    finally:
        edge.stop()


class CountingRedis(aioredis.Redis):
    """The test Redis, counting the key lookups made through it."""

    lookups = 0

    async def hget(self, name, key):
        self.lookups += 1
        return await super().hget(name, key)


def test_a_key_due_for_its_check_is_answered_from_memory_while_one_check_runs():
    info = KeyInfo(id=987_654, environment_id=1, environment_uid="env-uid", project="shop", environment="production")
    plaintext = "fp_srv_shedding-test-key"
    digest = sdk_keys.digest_of(plaintext)
    sdk_keys.remember(digest, info)

    async def scenario() -> None:
        redis = CountingRedis.from_url(settings.REDIS_URL)
        keys = KeyCache(redis, verify_seconds=0.0)  # every use is due for a check

        async def may_look_up() -> bool:
            return True

        assert await keys.check(digest, may_look_up) == (digest, info)  # learned from Redis
        redis.lookups = 0
        answers = [keys.remembered(digest) for _ in range(200)]  # no waiting: from memory
        assert answers == [(digest, info)] * 200
        deadline = time.monotonic() + 10
        while keys._checking and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert redis.lookups == 1
        await redis.aclose()

    try:
        asyncio.run(scenario())
    finally:
        redis.Redis.from_url(settings.REDIS_URL).hdel(sdk_keys.hash_key(), digest)

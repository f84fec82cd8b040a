"""The Redis copy's pieces: a copy updated in place by a change is byte for byte the copy the
whole document would give, and inflates to the canonical JSON."""

import json
import random

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.documents import assembly, cache, layout
from controlplane.documents.models import EnvironmentDocument, PendingChange
from controlplane.documents.services import rebuild
from controlplane.flags.services import create_flag, get_state, toggle_flag
from tests.documents.helpers import store_one_piece

FLAG, SEGMENT = layout.KINDS


def entries_of(rng: random.Random, count: int) -> dict[str, str]:
    return {f"flag-{rng.randrange(10 * count):05d}": json.dumps({"on": rng.random() < 0.5}) for _ in range(count)}


def read_from(entries: dict[str, dict[str, str]]):
    """A ``read`` for ``layout.updated`` over entries kept in memory."""

    def read(kind: str, ranges: list[layout.Range]) -> dict[str, str]:
        def within(key: str) -> bool:
            return any((low is None or key >= low) and (high is None or key < high) for low, high in ranges)

        return {key: body for key, body in entries[kind].items() if within(key)}

    return read


def change_some(rng: random.Random, entries: dict[str, str], count: int) -> dict[str, bool]:
    """Update, add and remove ``count`` entries in place; the changed keys -> whether removed."""
    changed = {}
    for _ in range(count):
        action = rng.choice(["update", "add", "remove"])
        if action == "remove" and entries:
            key = rng.choice(sorted(entries))
            del entries[key]
            changed[key] = True
        else:
            key = rng.choice(sorted(entries)) if action == "update" and entries else f"flag-{rng.randrange(10**6):06d}"
            entries[key] = json.dumps({"on": rng.random() < 0.5, "n": rng.random()})
            changed[key] = False
    return changed


@pytest.mark.parametrize("seed", range(30))
def test_a_copy_updated_in_place_is_the_copy_of_the_whole_document(seed):
    rng = random.Random(seed)
    entries = {FLAG: entries_of(rng, rng.choice([0, 1, 5, 300, 2000])), SEGMENT: entries_of(rng, rng.choice([0, 3]))}
    copy = layout.full("shop", "production", 1, entries)
    for version in range(2, 8):
        changes = {FLAG: change_some(rng, entries[FLAG], rng.choice([1, 1, 2, 20]))}
        if rng.random() < 0.3:
            changes[SEGMENT] = change_some(rng, entries[SEGMENT], 1)
        copy = layout.updated(copy, version, "shop", "production", changes, read_from(entries))
        whole = layout.full("shop", "production", version, entries)
        assert copy.manifest() == whole.manifest()
        assert copy.deflate() == whole.deflate()
    body = assembly.inflate_segment(copy.deflate())
    assert body == assembly.join("shop", "production", version, entries[FLAG], entries[SEGMENT])
    assert len(body) == copy.size
    assert layout.parse(copy.manifest(), copy.deflate()) == copy


def test_a_chunk_holds_about_chunk_entries_and_a_change_recompresses_one():
    entries = {FLAG: {f"flag-{i:05d}": "{}" for i in range(10_000)}, SEGMENT: {}}
    copy = layout.full("shop", "production", 1, entries)
    chunks = copy.chunks[FLAG]
    assert 10_000 / len(chunks) == pytest.approx(layout.CHUNK_ENTRIES, rel=0.3)
    entries[FLAG]["flag-04242"] = '{"on":true}'
    reads = []

    def read(kind, ranges):
        reads.append(ranges)
        return read_from(entries)(kind, ranges)

    updated = layout.updated(copy, 2, "shop", "production", {FLAG: {"flag-04242": False}}, read)
    assert len(reads) == 1 and len(reads[0]) == 1
    assert sum(a is not b for a, b in zip(chunks, updated.chunks[FLAG], strict=True)) == 1


def test_a_manifest_that_does_not_describe_the_body_is_refused():
    copy = layout.full("shop", "production", 1, {FLAG: {"a": "1", "b": "2"}, SEGMENT: {}})
    assert layout.parse(copy.manifest(), copy.deflate()[:-1]) is None
    assert layout.parse(b"not json", copy.deflate()) is None
    assert layout.parse(copy.manifest().replace(b'"flag"', b'"other"'), copy.deflate()) is None


@pytest.fixture
def many_flags(project, production):
    """Production with 600 flags (several chunks), published."""
    from controlplane.flags.models import Flag, FlagState
    from controlplane.flags.services import BOOLEAN_VARIANTS

    flags = Flag.objects.bulk_create(
        Flag(project=project, key=f"flag-{i:04d}", name=f"Flag {i}", variants=BOOLEAN_VARIANTS, off_variant="off")
        for i in range(600)
    )
    FlagState.objects.bulk_create(
        FlagState(flag=flag, environment=production, default_serve={"variant": "off"}) for flag in flags
    )
    PendingChange.objects.create(environment=production, kind=PendingChange.Kind.ALL)
    rebuild(production.id)
    return flags


def whole_copy(environment) -> layout.Layout:
    published = assembly.published(environment.id)
    return layout.full(published.project, published.environment, published.version, published.entries)


@pytest.mark.django_db
def test_a_toggle_updates_the_redis_copy_in_place_to_the_copy_of_the_whole_document(many_flags, production):
    before = cache.stored_layout(production.uid)
    toggle_flag(get_state(many_flags[300], production), SYSTEM, True, "launch")
    published = rebuild(production.id)
    after = cache.stored_layout(production.uid)
    assert (after.version, after.etag) == (published.version, published.etag)
    assert after.layout == whole_copy(production)
    assert sum(a != b for a, b in zip(before.layout.chunks[FLAG], after.layout.chunks[FLAG], strict=True)) == 1
    assert cache.get(production.uid).body == assembly.assemble(production.id).body
    assert EnvironmentDocument.objects.get(environment=production).size == after.layout.size


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["corrupt", "older", "missing"])
def test_a_change_over_a_copy_that_is_not_the_previous_version_stores_the_whole_document(
    many_flags, production, damage
):
    key = cache.document_key(production.uid)
    if damage == "corrupt":
        cache.client().hset(key, "deflate", b"garbage")
    elif damage == "older":
        store_one_piece(production.uid, 1, '"older"', b"{}", force=True)
    else:
        cache.client().delete(key)
    create_flag(many_flags[0].project, SYSTEM, key="flag-0300a")
    published = rebuild(production.id)
    copy = cache.get(production.uid)
    assert (copy.version, copy.body) == (published.version, assembly.assemble(production.id).body)
    assert cache.stored_layout(production.uid).layout == whole_copy(production)

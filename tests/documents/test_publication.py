"""Publication: a committed change is recorded as pending, published once as a new version, and
the published document is exactly the canonical JSON of every flag and segment."""

import json

import pytest
from django.db import transaction

from controlplane.audit.services import SYSTEM
from controlplane.documents import assembly, cache, events
from controlplane.documents.builder import canonical_json, flag_entries, segment_entries
from controlplane.documents.models import EnvironmentDocument, Fragment, PendingChange
from controlplane.documents.services import publication_of, rebuild, reconcile
from controlplane.flags.services import (
    create_flag,
    create_segment,
    get_state,
    set_archived,
    toggle_flag,
    update_flag_state,
    update_segment,
)
from tests.documents.helpers import store_one_piece

pytestmark = pytest.mark.django_db


def whole_document(environment, version: int) -> bytes:
    """The document as one canonical_json call over every entry would serialise it."""
    content = {
        "schema_version": 1,
        "project": environment.project.key,
        "environment": environment.key,
        "version": version,
        "flags": flag_entries(environment),
        "segments": segment_entries(environment),
    }
    return canonical_json(content).encode()


def last_patch(environment) -> tuple[dict, dict | None]:
    """The newest patch event in the environment's history: (header, payload)."""
    event = events.decode(cache.client().lindex(cache.patches_key(environment.uid), 0))
    return event.header, (json.loads(event.payload) if event.payload else None)


@pytest.fixture
def populated(project, production, development, checkout_flag, layout_flag):
    create_segment(project, SYSTEM, key="beta", included=["user-1"])
    create_segment(
        project,
        SYSTEM,
        key="beta-eu",
        rules=[{"clauses": [{"attribute": "key", "op": "in_segment", "values": ["beta"]}]}],
    )
    update_flag_state(
        get_state(layout_flag, production),
        SYSTEM,
        {
            "on": True,
            "rules": [
                {
                    "id": "eu-beta",
                    "clauses": [{"attribute": "key", "op": "in_segment", "values": ["beta-eu"]}],
                    "serve": {"variant": "compact"},
                }
            ],
        },
    )
    rebuild(development.id)
    return rebuild(production.id)


def test_the_assembled_document_is_the_canonical_json_of_every_entry(populated, production):
    assembled = assembly.assemble(production.id)
    assert assembled.body == whole_document(production, populated.version)
    assert set(json.loads(assembled.body)["flags"]) == {"new-checkout", "checkout-layout"}


def test_a_write_is_pending_until_published_and_a_rolled_back_one_leaves_nothing(populated, production, checkout_flag):
    assert publication_of([production.id])[production.id].behind is False
    with pytest.raises(RuntimeError), transaction.atomic():
        toggle_flag(get_state(checkout_flag, production), SYSTEM, True, "oops")
        raise RuntimeError("rolled back")
    assert not PendingChange.objects.filter(environment=production).exists()

    toggle_flag(get_state(checkout_flag, production), SYSTEM, True, "launch")
    publication = publication_of([production.id])[production.id]
    assert publication.behind and publication.pending_changes == 1 and publication.version == populated.version
    published = rebuild(production.id)
    assert published.version == populated.version + 1
    assert publication_of([production.id])[production.id].behind is False


def test_one_changed_flag_is_published_as_a_patch_of_that_flag_only(populated, production, checkout_flag):
    other = Fragment.objects.get(environment=production, key="checkout-layout")
    toggle_flag(get_state(checkout_flag, production), SYSTEM, True, "launch")
    published = rebuild(production.id)

    header, patch = last_patch(production)
    assert header == {
        "type": "patch",
        "environment": str(production.uid),
        "previous_version": populated.version,
        "version": published.version,
        "etag": published.etag,
    }
    assert patch["previous_version"] == populated.version and patch["version"] == published.version
    assert list(patch["flags"]) == ["new-checkout"] and patch["flags"]["new-checkout"]["on"] is True
    assert patch["segments"] == {}
    assert Fragment.objects.get(pk=other.pk).body == other.body
    assert assembly.assemble(production.id).body == whole_document(production, published.version)


def test_rebuilding_without_a_change_keeps_the_version_and_etag(populated, production):
    again = rebuild(production.id)
    assert (again.version, again.etag) == (populated.version, populated.etag)


def test_a_segment_change_patches_the_segments_and_flags_that_use_it(populated, project, production):
    update_segment(project.segments.get(key="beta"), SYSTEM, {"included": ["user-1", "user-2"]})
    rebuild(production.id)
    _, patch = last_patch(production)
    assert patch["segments"]["beta"]["included"] == ["user-1", "user-2"]
    assert set(patch["segments"]) == {"beta", "beta-eu"}  # beta-eu is built on beta
    assert set(patch["flags"]) == {"checkout-layout"}  # it targets beta-eu


def test_an_archived_flag_leaves_the_document_as_a_null_in_the_patch(populated, production, checkout_flag):
    set_archived(checkout_flag, SYSTEM, True)
    published = rebuild(production.id)
    _, patch = last_patch(production)
    assert patch["flags"] == {"new-checkout": None}
    assert "new-checkout" not in json.loads(assembly.assemble(production.id).body)["flags"]
    assert not Fragment.objects.filter(environment=production, key="new-checkout").exists()
    assert published.content_digest != populated.content_digest


def test_the_content_digest_is_the_same_however_the_fragments_were_reached(populated, project, production):
    create_flag(project, SYSTEM, key="extra")
    incremental = rebuild(production.id)
    PendingChange.objects.create(environment=production, kind=PendingChange.Kind.ALL)
    Fragment.objects.filter(environment=production).delete()
    EnvironmentDocument.objects.filter(pk=incremental.pk).update(content_digest="0" * 64)
    from_scratch = rebuild(production.id)
    assert from_scratch.content_digest == incremental.content_digest


def test_the_redis_copy_is_verified_and_never_replaced_by_an_older_version(populated, production, checkout_flag):
    copy = cache.get(production.uid)
    assert (copy.version, copy.etag) == (populated.version, populated.etag)
    assert copy.body == assembly.assemble(production.id).body

    stale = assembly.Assembled(populated.version - 1, '"old"', b'{"old": true}')
    assert not store_one_piece(production.uid, stale.version, stale.etag, stale.body)
    assert cache.get(production.uid).version == populated.version

    cache.client().hset(cache.document_key(production.uid), "deflate", b"garbage")
    assert cache.get(production.uid) is None  # corrupt: never served


def test_a_new_environment_starts_with_every_flag(project, checkout_flag, layout_flag):
    from controlplane.projects.services import create_environment

    staging = create_environment(project, SYSTEM, key="staging")
    published = rebuild(staging.id)
    assert set(json.loads(assembly.assemble(staging.id).body)["flags"]) == {"new-checkout", "checkout-layout"}
    assert published.version == 1


def test_the_reconciler_publishes_a_change_whose_build_never_ran(populated, production, checkout_flag):
    toggle_flag(get_state(checkout_flag, production), SYSTEM, True, "launch")  # no worker here: no build
    report = reconcile()
    assert report.built == 1
    copy = cache.get(production.uid)
    assert copy.version == populated.version + 1
    assert json.loads(copy.body)["flags"]["new-checkout"]["on"] is True
    assert publication_of([production.id])[production.id].behind is False


@pytest.mark.parametrize("damage", ["missing", "older", "corrupt"])
def test_the_reconciler_repairs_a_redis_copy_that_is_missing_older_or_corrupt(populated, production, damage):
    key = cache.document_key(production.uid)
    if damage == "missing":
        cache.client().delete(key)
    elif damage == "older":
        store_one_piece(production.uid, populated.version - 1, '"older"', b"{}", force=True)
    else:
        cache.client().hset(key, "sha", "0" * 64)
    report = reconcile()
    assert report.repaired == (0 if damage == "corrupt" else 1)
    if damage == "corrupt":  # the header looks right: the web process that reads it repairs it
        assert cache.get(production.uid) is None
        from controlplane.documents.services import served_document

        assert served_document(production.id).version == populated.version
    copy = cache.get(production.uid)
    assert (copy.version, copy.etag) == (populated.version, populated.etag)

"""An environment's metrics go with it: the bucket tables have no database constraint on their
environment (each batch's row, in the same transaction, is the one checked), Django cascades."""

from __future__ import annotations

import pytest
from django.db import IntegrityError
from django.utils import timezone

from controlplane.metrics.models import MetricBatch, MetricBucket, MetricUnitBucket
from controlplane.metrics.services import count_batch
from controlplane.metrics.wire import read_batch
from controlplane.projects.models import Environment

pytestmark = pytest.mark.django_db


def unit_entry(entry):
    return {
        **entry(),
        "units": {
            "groups": 64,
            "group": [3],
            "successes": [8],
            "errors": [2],
            "latency_counts": [[0, 3, 4, 2, 1] + [0] * 9],
        },
    }


def test_deleting_an_environment_deletes_its_batches_and_buckets(post, production, development, entry, make_batch):
    assert post({**make_batch(unit_entry(entry)), "format": 2}).status_code == 202
    assert MetricBucket.objects.filter(environment=production).exists()
    assert MetricUnitBucket.objects.filter(environment=production).exists()
    Environment.objects.get(pk=production.pk).delete()
    assert not MetricBatch.objects.exists()
    assert not MetricBucket.objects.exists()
    assert not MetricUnitBucket.objects.exists()
    assert Environment.objects.filter(pk=development.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_for_an_environment_that_is_gone_stores_nothing(make_batch, entry):
    """The batch row's constraint is checked at commit, and the buckets go back with it."""
    now = timezone.now()
    missing = (Environment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    with pytest.raises(IntegrityError):
        count_batch(missing, read_batch(make_batch(entry(), end=now), now), now)
    assert not MetricBucket.objects.exists()

"""flagplane_metric_batches_total counts what POST /api/v1/metrics did with each batch."""

from __future__ import annotations

import pytest

from tests.observability.helpers import scrape, value

pytestmark = pytest.mark.django_db

NAME = "flagplane_metric_batches_total"


def test_batches_are_counted_as_ingested_duplicate_or_rejected(client, post, make_batch):
    before = scrape(client)
    batch = make_batch()
    assert post(batch).status_code == 202
    assert post(batch).status_code == 202  # a retry of the same batch id
    assert post({**batch, "batch_id": ""}).status_code == 400

    after = scrape(client)
    for outcome in ("ingested", "duplicate", "rejected"):
        assert value(after, NAME, outcome=outcome) - value(before, NAME, outcome=outcome) == 1, outcome

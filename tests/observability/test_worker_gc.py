"""A Celery worker freezes what its pool processes inherit out of the garbage collector's sight, before forking them."""

import gc

from celery import signals


def test_a_pool_process_starts_with_what_it_inherits_frozen():
    import controlplane.celery  # noqa: F401  (connects the worker's signal handlers)

    gc.unfreeze()
    try:
        signals.worker_before_create_process.send(sender=None)
        assert gc.get_freeze_count() > 50_000  # Django and the apps, at least
        assert len(gc.get_objects()) < gc.get_freeze_count()  # what a full collection still walks
    finally:
        gc.unfreeze()

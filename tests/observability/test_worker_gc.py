"""A Celery pool process freezes what it inherited out of the garbage collector's sight."""

import gc

from celery import signals


def test_a_pool_process_freezes_what_it_starts_with():
    import controlplane.celery  # noqa: F401  (connects the worker's signal handlers)

    gc.unfreeze()
    try:
        signals.worker_process_init.send(sender=None)
        assert gc.get_freeze_count() > 50_000  # Django and the apps, at least
        assert len(gc.get_objects()) < gc.get_freeze_count()  # what a full collection still walks
    finally:
        gc.unfreeze()

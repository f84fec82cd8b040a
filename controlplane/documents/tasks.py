from celery import shared_task

from controlplane.documents import services


@shared_task(name="documents.build_environment_document")
def build_environment_document(environment_id: int) -> None:
    services.rebuild(environment_id)


@shared_task(name="documents.reconcile")
def reconcile() -> dict[str, object]:
    """Beat, every DOCUMENTS_RECONCILE_SECONDS: nothing committed stays unpublished."""
    from controlplane.projects import sdk_keys

    report = services.reconcile()
    keys = sdk_keys.reconcile()
    return {"built": report.built, "repaired": report.repaired, "sdk_keys_repaired": keys}

from celery import shared_task

from controlplane.documents.services import rebuild


@shared_task(name="documents.build_environment_document")
def build_environment_document(environment_id: int) -> None:
    rebuild(environment_id)

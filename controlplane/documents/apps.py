from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "controlplane.documents"
    label = "documents"

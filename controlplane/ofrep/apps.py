from django.apps import AppConfig


class OfrepConfig(AppConfig):
    name = "controlplane.ofrep"
    label = "ofrep"
    verbose_name = "OFREP (OpenFeature Remote Evaluation Protocol)"

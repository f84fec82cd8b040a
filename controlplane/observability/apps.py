import logging

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "controlplane.observability"
    label = "observability"
    verbose_name = "Metrics and logs"

    def ready(self) -> None:
        # Python's warnings become log records (logger "py.warnings"): JSON lines like the rest.
        logging.captureWarnings(True)

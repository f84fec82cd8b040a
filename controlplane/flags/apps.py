from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "controlplane.flags"
    label = "flags"

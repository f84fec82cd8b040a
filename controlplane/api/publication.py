"""Where an environment's published SDK document stands, as the REST API shows it: on an
environment, and on every write response that changes what SDKs see."""

from __future__ import annotations

from rest_framework import serializers

from controlplane.documents.services import Publication, publication_of


class PublicationSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The SDK document version SDKs are served (0: never published).")
    published_at = serializers.DateTimeField(allow_null=True, help_text="When that version was published.")
    behind = serializers.BooleanField(help_text="True while a committed change is not published yet.")
    behind_since = serializers.DateTimeField(
        allow_null=True, help_text="When the oldest change not published yet was committed; null when up to date."
    )
    pending_changes = serializers.IntegerField(help_text="Committed changes the published document lacks.")
    queued = serializers.BooleanField(
        help_text="False if the last build could not be handed to the broker; the reconciler publishes it anyway."
    )


def publication_data(environment_id: int) -> dict:
    return represent(publication_of([environment_id])[environment_id])


def represent(publication: Publication) -> dict:
    return PublicationSerializer(
        {
            "version": publication.version,
            "published_at": publication.published_at,
            "behind": publication.behind,
            "behind_since": publication.behind_since,
            "pending_changes": publication.pending_changes,
            "queued": publication.queued,
        }
    ).data

"""An index for every filter of the audit log, each ending in the list's order (at, id).

Built concurrently (no lock on writes, which are audited, while a large log is indexed); the
single-column indexes they replace are dropped afterwards.
"""

import django.contrib.postgres.indexes
import django.db.models.deletion
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0002_append_only"),
        ("projects", "0003_client_keys"),
    ]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently("auditentry", models.Index(fields=["at", "id"], name="audit_at")),
        AddIndexConcurrently("auditentry", models.Index(fields=["action", "at", "id"], name="audit_action_at")),
        AddIndexConcurrently(
            "auditentry", models.Index(fields=["object_type", "at", "id"], name="audit_object_type_at")
        ),
        AddIndexConcurrently("auditentry", models.Index(fields=["project", "at", "id"], name="audit_project_at")),
        AddIndexConcurrently(
            "auditentry", models.Index(fields=["environment", "at", "id"], name="audit_environment_at")
        ),
        AddIndexConcurrently(
            "auditentry",
            django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("actor"), name="gin_trgm_ops"
                ),
                name="audit_actor_trgm",
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="at",
            field=models.DateTimeField(auto_now_add=True),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(help_text='e.g. "flag.toggle", "sdk_key.revoke".', max_length=64),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="object_type",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="project",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="projects.project",
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="environment",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="projects.environment",
            ),
        ),
    ]

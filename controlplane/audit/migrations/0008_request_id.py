"""Each entry keeps the request id of its write (the X-Request-ID its log lines carry), and the
words' index covers it: the id in an error report or a proxy's log finds the entry.

The column has a default in the database, so adding it rewrites nothing (PostgreSQL stores the
default once) and the entries written before have an empty id. The index of the words with the
id is built concurrently before the one without is dropped (about 2 minutes at 10M entries, as
0006's), then the log is analyzed for its statistics (0007).
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0007_search_statistics")]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="request_id",
            field=models.CharField(
                blank=True,
                db_default="",
                help_text="The request's X-Request-ID (of the write, or of what queued its task), as in the log "
                "lines; empty for commands and scheduled work.",
                max_length=128,
            ),
        ),
        AddIndexConcurrently(
            "auditentry",
            GinIndex(
                SearchVector("actor", "object_repr", "object_id", "reason", "request_id", config="simple"),
                name="audit_words",
            ),
        ),
        RemoveIndexConcurrently("auditentry", "audit_search"),
        migrations.RunSQL("ANALYZE audit_auditentry", migrations.RunSQL.noop),
    ]

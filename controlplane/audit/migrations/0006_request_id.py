"""Each entry keeps the request id of its write (the X-Request-ID its log lines carry), so the id
in an error report or a proxy's log finds the entry (the words' index, 0007, covers it).

The column has a default in the database, so adding it rewrites nothing (PostgreSQL stores the
default once) and the entries written before have an empty id. Adding a column still takes the
table's ACCESS EXCLUSIVE lock for an instant; waiting for it behind a long read would hold every
audited write back meanwhile, so the lock is given up after 5 s (and ``migrate`` can be rerun).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_indexes_for_two_filters")]

    operations = [
        migrations.RunSQL("SET LOCAL lock_timeout = '5s'", migrations.RunSQL.noop),
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
    ]

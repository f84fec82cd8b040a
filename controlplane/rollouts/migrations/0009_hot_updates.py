"""Half of each new page of rollout plans and decisions left free (fillfactor 50), so that a tick's
updates stay on the row's page (HOT: no new index entries, less WAL). A batch's holds rewrite every
plan of the batch and each one's last decision, neighbours on their pages, every tick: a page needs
room for a second version of each of its rows until the first is pruned. None of the columns a hold
writes is indexed. Pages written before keep their rows packed until they are rewritten (a row
moved by an update lands on a new page, half free); ``VACUUM FULL`` repacks a table at once.
bench/scale_engine.py, three batches of 50 holds: HOT updates 13 of 150 plans and 6 of 150
decisions before, 150 and 150 after."""

from django.db import migrations

TABLES = ("rollouts_rolloutplan", "rollouts_decision")


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0008_decision_plan_latest"),
    ]

    operations = [
        migrations.RunSQL(
            [f"ALTER TABLE {table} SET (fillfactor = 50)" for table in TABLES],
            [f"ALTER TABLE {table} RESET (fillfactor)" for table in TABLES],
        )
    ]

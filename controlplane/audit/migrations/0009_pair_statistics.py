"""Statistics of the pairs of filters that have an index of both (``CREATE STATISTICS … (mcv)``).

The planner takes filters as independent: in a list of a project, an action and an object type
that never meet (the project's entries of that action are all of other types), it read the
project's index of the action and checked the type of each entry (250,000 at 10M entries in
bench/scale_audit.py, 2.5 s), where the project's index of the type finds none at once. With
the most common values of each pair counted, it knows how many entries the project has of each
action and of each type, and walks the index of the pair with the fewest (0.06 ms there).

ANALYZE reads a sample of the log, not all of it (under a second at 10M entries); statistics
are not an index, so audited writes pay nothing for them.
"""

from django.db import migrations

PAIRS = {
    "audit_project_action_stats": "project_id, action",
    "audit_project_type_stats": "project_id, object_type",
    "audit_env_action_stats": "environment_id, action",
    "audit_env_type_stats": "environment_id, object_type",
}


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_search_with_filters")]

    operations = [
        migrations.RunSQL(
            [f"CREATE STATISTICS IF NOT EXISTS {name} (mcv) ON {columns} FROM audit_auditentry"
             for name, columns in PAIRS.items()] + ["ANALYZE audit_auditentry"],
            [f"DROP STATISTICS IF EXISTS {name}" for name in PAIRS],
        ),
    ]  # fmt: skip

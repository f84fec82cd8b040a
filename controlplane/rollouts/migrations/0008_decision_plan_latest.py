"""A plan's last decision in one index lookup (plan, at, id): a batch's holds fold into their plans'
last entries in one statement, and the index on ``at`` alone made the planner walk every plan's
entries newer than one plan's last (at 5,000 plans, minutes a batch). It replaces the index on
``plan`` alone, which it covers. Built concurrently: decisions are written while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("rollouts", "0007_packed_counts"),
    ]

    operations = [
        AddIndexConcurrently("decision", models.Index(fields=["plan", "at", "id"], name="decision_plan_latest")),
        migrations.AlterField(
            model_name="decision",
            name="plan",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="decisions",
                to="rollouts.rolloutplan",
            ),
        ),
    ]

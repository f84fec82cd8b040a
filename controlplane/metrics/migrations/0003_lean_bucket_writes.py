"""No separate index on the metrics tables' environment (each unique constraint starts with it);
the bucket tables keep half of each page free, so adding to a bucket row is a HOT update."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('metrics', '0002_unit_groups'),
        ('projects', '0003_client_keys'),
    ]

    operations = [
        migrations.AlterField(
            model_name='flagactivity',
            name='environment',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment'),
        ),
        migrations.AlterField(
            model_name='metricbatch',
            name='environment',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment'),
        ),
        migrations.AlterField(
            model_name='metricbucket',
            name='environment',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment'),
        ),
        migrations.AlterField(
            model_name='metricunitbucket',
            name='environment',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment'),
        ),
        migrations.RunSQL(
            "ALTER TABLE metrics_metricbucket SET (fillfactor = 50);"
            " ALTER TABLE metrics_metricunitbucket SET (fillfactor = 50);",
            reverse_sql="ALTER TABLE metrics_metricbucket RESET (fillfactor);"
            " ALTER TABLE metrics_metricunitbucket RESET (fillfactor);",
        ),
    ]

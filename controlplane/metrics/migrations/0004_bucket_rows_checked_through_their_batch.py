"""The bucket tables' environment without a database constraint: each batch's row is checked once
at commit instead of every bucket row it adds (models.py)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('metrics', '0003_lean_bucket_writes'),
        ('projects', '0003_client_keys'),
    ]

    operations = [
        migrations.AlterField(
            model_name='metricbucket',
            name='environment',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment'),
        ),
        migrations.AlterField(
            model_name='metricunitbucket',
            name='environment',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment'),
        ),
    ]

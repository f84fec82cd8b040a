"""Flags are listed by project id and key (no join to the project); a GIN index serves the tag filter."""

import django.contrib.postgres.indexes
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('flags', '0002_flag_metadata_client_side'),
        ('projects', '0003_client_keys'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='flag',
            options={'ordering': ['project_id', 'key']},
        ),
        migrations.AddIndex(
            model_name='flag',
            index=django.contrib.postgres.indexes.GinIndex(fields=['tags'], name='flag_tags'),
        ),
    ]

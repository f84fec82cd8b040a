"""Marks of buckets SDK counts were added to after they had settled (models.LateBucket)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('metrics', '0004_bucket_rows_checked_through_their_batch'),
        ('projects', '0003_client_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='LateBucket',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('flag_key', models.CharField(max_length=200)),
                ('bucket_start', models.DateTimeField()),
                ('written_at', models.DateTimeField()),
                ('environment', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment')),
            ],
            options={
                'ordering': ['-written_at'],
                'indexes': [models.Index(fields=['bucket_start'], name='late_bucket_time')],
                'constraints': [models.UniqueConstraint(fields=('environment', 'flag_key', 'bucket_start'), name='unique_late_bucket')],
            },
        ),
    ]

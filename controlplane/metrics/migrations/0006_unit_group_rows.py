"""Unit-group signals as one row per group reported (models.MetricUnitBucket), not one row per
bucket holding every group's arrays: the dense rows are copied group by group, leaving out the
groups with nothing counted, and dropped. Reversible: the rows are gathered back into dense ones."""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

import controlplane.metrics.histogram

# The wire format's sizes when the dense rows were written (flagplane.metrics.UNIT_GROUPS, the
# standard histogram's counts); spelled out so that this migration reads them as they were.
GROUPS = 64
COUNTS = 14

TO_ROWS = f"""
INSERT INTO metrics_metricunitbucket
    (environment_id, flag_key, variant, bucket_start, unit_group, successes, errors, latency_counts)
SELECT d.environment_id, d.flag_key, d.variant, d.bucket_start, g.position - 1, g.successes, g.errors,
       h.counts
FROM metrics_densemetricunitbucket d
CROSS JOIN LATERAL unnest(d.successes, d.errors) WITH ORDINALITY AS g(successes, errors, position)
JOIN LATERAL (
    -- each dense row's histograms are read (and decompressed) once, not once per group
    SELECT (i - 1) / {COUNTS} + 1 AS position, array_agg(c ORDER BY i) AS counts
    FROM unnest(d.latency_counts) WITH ORDINALITY AS l(c, i)
    GROUP BY (i - 1) / {COUNTS}
) h USING (position)
WHERE g.successes <> 0 OR g.errors <> 0 OR h.counts <> array_fill(0::bigint, ARRAY[{COUNTS}])
"""

TO_DENSE = f"""
ALTER TABLE metrics_densemetricunitbucket SET (fillfactor = 50);
WITH gathered AS (
    SELECT k.environment_id, k.flag_key, k.variant, k.bucket_start,
           array_agg(COALESCE(u.successes, 0) ORDER BY g) AS successes,
           array_agg(COALESCE(u.errors, 0) ORDER BY g) AS errors,
           array_agg(COALESCE(u.latency_counts, array_fill(0::bigint, ARRAY[{COUNTS}])) ORDER BY g) AS counts
    FROM (SELECT DISTINCT environment_id, flag_key, variant, bucket_start FROM metrics_metricunitbucket) k
    CROSS JOIN generate_series(0, {GROUPS - 1}) AS g
    LEFT JOIN metrics_metricunitbucket u
        ON (u.environment_id, u.flag_key, u.variant, u.bucket_start, u.unit_group)
         = (k.environment_id, k.flag_key, k.variant, k.bucket_start, g)
    GROUP BY k.environment_id, k.flag_key, k.variant, k.bucket_start
)
INSERT INTO metrics_densemetricunitbucket
    (environment_id, flag_key, variant, bucket_start, successes, errors, latency_counts)
SELECT environment_id, flag_key, variant, bucket_start, successes, errors, ARRAY(SELECT unnest(counts))
FROM gathered
"""


class Migration(migrations.Migration):

    dependencies = [
        ('metrics', '0005_late_buckets'),
        ('projects', '0003_client_keys'),
    ]

    operations = [
        migrations.RemoveConstraint(model_name='metricunitbucket', name='unique_metric_unit_bucket'),
        migrations.RemoveIndex(model_name='metricunitbucket', name='metric_unit_bucket_time'),
        migrations.RenameModel(old_name='MetricUnitBucket', new_name='DenseMetricUnitBucket'),
        migrations.CreateModel(
            name='MetricUnitBucket',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('flag_key', models.CharField(max_length=200)),
                ('variant', models.CharField(max_length=200)),
                ('bucket_start', models.DateTimeField()),
                ('unit_group', models.SmallIntegerField(help_text='0 to 63.')),
                ('successes', models.BigIntegerField(default=0)),
                ('errors', models.BigIntegerField(default=0)),
                ('latency_counts', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), default=controlplane.metrics.histogram.empty_histogram, size=14)),
                ('environment', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.environment')),
            ],
            options={
                'ordering': ['-bucket_start', 'flag_key', 'variant', 'unit_group'],
                'indexes': [models.Index(fields=['bucket_start'], name='metric_unit_group_bucket_time')],
                'constraints': [models.UniqueConstraint(fields=('environment', 'flag_key', 'variant', 'bucket_start', 'unit_group'), name='unique_metric_unit_group_bucket')],
            },
        ),
        migrations.RunSQL(
            "ALTER TABLE metrics_metricunitbucket SET (fillfactor = 50);",
            reverse_sql=migrations.RunSQL.noop,  # the table is dropped
        ),
        migrations.RunSQL(TO_ROWS, reverse_sql=TO_DENSE),
        migrations.DeleteModel(name='DenseMetricUnitBucket'),
    ]

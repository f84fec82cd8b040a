"""When stored SDK counts were read from the buckets (SdkCounts.counted_at). Rows stored before
have the epoch: a bucket of theirs counted late since this migration counts them again."""

import datetime

from django.db import migrations, models

BEFORE_ANY_MARK = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class Migration(migrations.Migration):

    dependencies = [
        ('rollouts', '0005_source_counts'),
        ('metrics', '0005_late_buckets'),
    ]

    operations = [
        migrations.AddField(
            model_name='runningcounts',
            name='counted_at',
            field=models.DateTimeField(default=BEFORE_ANY_MARK),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='stagecounts',
            name='counted_at',
            field=models.DateTimeField(default=BEFORE_ANY_MARK),
            preserve_default=False,
        ),
    ]

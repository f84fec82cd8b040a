"""Stored SDK health signals: time-bucketed aggregates, the batches already counted, flag activity.

Flag keys are plain strings, not foreign keys: metrics for a flag that is archived, renamed or
not created yet are still kept (and deleted only by retention). Every table's unique constraint
starts with the environment, so the foreign key has no index of its own (one less to update per
row an ingest writes). The bucket tables' environment has no database constraint either
(migration 0004): the batch row, written in the same transaction, references the environment and
is checked at commit, where a constraint per bucket row was a check per series (10,000 for a
large batch, deferred to the commit); Django still cascades a deleted environment to its buckets.
``MetricBucket`` leaves half of each page free (fillfactor 50, migration 0003): adding a batch to
a bucket row then rewrites it in its page without touching an index (``MetricUnitBucket`` rows
are appended, never updated: migration 0007).
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from controlplane.metrics.histogram import HISTOGRAM_SIZE, empty_histogram
from controlplane.projects.models import Environment
from flagplane.metrics import UNIT_GROUPS


class MetricBucket(models.Model):
    """Everything SDKs reported for one (environment, flag, variant) in one time bucket.

    ``bucket_start`` is aligned to ``METRICS_BUCKET_SECONDS``; a batch counts in the bucket that
    contains its ``period.end``. ``latency_counts`` is aligned with the standard latency bounds
    (``histogram.STANDARD_BOUNDS_MS``) plus one overflow count.
    """

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    flag_key = models.CharField(max_length=200)
    variant = models.CharField(max_length=200)
    bucket_start = models.DateTimeField()
    evaluations = models.BigIntegerField(default=0)
    successes = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    latency_counts = ArrayField(models.BigIntegerField(), size=HISTOGRAM_SIZE, default=empty_histogram)
    latency_sum = models.FloatField(default=0.0, help_text="Sum of recorded latencies (ms).")
    ungrouped_signals = models.BigIntegerField(
        default=0, help_text="Successes + errors from SDKs that send no unit groups (wire format 1)."
    )

    class Meta:
        ordering = ["-bucket_start", "flag_key", "variant"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "flag_key", "variant", "bucket_start"], name="unique_metric_bucket"
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "bucket_start"], name="metric_bucket_env_time"),
            models.Index(fields=["bucket_start"], name="metric_bucket_time"),
        ]

    def __str__(self) -> str:
        return f"{self.flag_key}/{self.variant} @ {self.bucket_start:%Y-%m-%d %H:%M:%S}"

    @property
    def requests(self) -> int:
        return self.successes + self.errors


class MetricUnitBucket(models.Model):
    """The split-served health signals per unit group (``flagplane.metrics.UNIT_GROUPS`` groups;
    wire format 2) that one batch reported for one (environment, flag, variant) in one time
    bucket: a row per series a batch reported, appended, never updated; readers add up a bucket's
    rows. ``batch`` is the ``MetricBatch`` id (kept after that row is pruned; 0: counted before
    migration 0007, one row per bucket).

    The reported groups only (a series reports a fraction of them: an SDK sees some of a flag's
    users in a flush), as parallel arrays: ``unit_groups`` with their ``successes`` and ``errors``.
    Their latency histograms are kept sparse, as the histogram counts that are not zero
    (``latency_counts``) at their position, ``latency_bins``: group * ``HISTOGRAM_SIZE`` + the
    count's index in the group's standard histogram. A series of 16 groups is a row of about 600
    bytes, where 16 rows of a group each (migration 0006) cost ~16 µs each to upsert and a row of
    64 groups' dense histograms (896 counts, 0002-0005) was TOASTed and added up whole per batch
    (1.2-1.6 ms per series). One index: the primary key, which starts as the readers' windows do;
    retention finds old rows by a BRIN index (rows are appended about in time order). A separate
    table so the totals every chart reads stay small.
    """

    pk = models.CompositePrimaryKey("environment", "flag_key", "variant", "bucket_start", "batch")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    flag_key = models.CharField(max_length=200)
    variant = models.CharField(max_length=200)
    bucket_start = models.DateTimeField()
    batch = models.BigIntegerField(help_text="The MetricBatch id that reported these signals (0: migrated).")
    unit_groups = ArrayField(models.SmallIntegerField(), help_text=f"Groups reported, 0 to {UNIT_GROUPS - 1}.")
    successes = ArrayField(models.BigIntegerField())
    errors = ArrayField(models.BigIntegerField())
    latency_bins = ArrayField(
        models.SmallIntegerField(), help_text=f"Group * {HISTOGRAM_SIZE} + index in its standard histogram."
    )
    latency_counts = ArrayField(models.BigIntegerField(), help_text="The counts at latency_bins (none zero).")

    class Meta:
        ordering = ["-bucket_start", "flag_key", "variant", "batch"]
        indexes = [BrinIndex(fields=["bucket_start"], name="metric_unit_report_time")]

    def __str__(self) -> str:
        return f"{self.flag_key}/{self.variant} of batch {self.batch} @ {self.bucket_start:%Y-%m-%d %H:%M:%S}"

    def histograms(self) -> dict[int, list[int]]:
        """Each reported group's standard latency histogram."""
        counts = {group: empty_histogram() for group in self.unit_groups}
        for position, count in zip(self.latency_bins, self.latency_counts, strict=True):
            counts[position // HISTOGRAM_SIZE][position % HISTOGRAM_SIZE] += count
        return counts


class MetricBatch(models.Model):
    """A batch already counted: its id makes retries idempotent; it also keeps ``dropped``."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+", db_index=False)
    batch_id = models.CharField(max_length=64)
    received_at = models.DateTimeField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    sdk_name = models.CharField(max_length=100)
    sdk_version = models.CharField(max_length=50)
    document_version = models.BigIntegerField(null=True, blank=True)
    entries = models.PositiveIntegerField()
    dropped = models.BigIntegerField(default=0, help_text="Observations the SDK could not buffer or send.")

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "metric batches"
        constraints = [
            models.UniqueConstraint(fields=["environment", "batch_id"], name="unique_metric_batch"),
        ]
        indexes = [models.Index(fields=["received_at"], name="metric_batch_received")]

    def __str__(self) -> str:
        return f"{self.batch_id} ({self.sdk_name} {self.sdk_version})"


class FlagActivity(models.Model):
    """When a flag was last evaluated in an environment; outlives bucket retention (stale flags)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+", db_index=False)
    flag_key = models.CharField(max_length=200)
    first_evaluated_at = models.DateTimeField()
    last_evaluated_at = models.DateTimeField()

    class Meta:
        ordering = ["flag_key"]
        verbose_name_plural = "flag activity"
        constraints = [
            models.UniqueConstraint(fields=["environment", "flag_key"], name="unique_flag_activity"),
        ]

    def __str__(self) -> str:
        return f"{self.flag_key} last evaluated {self.last_evaluated_at:%Y-%m-%d %H:%M}"


class LateBucket(models.Model):
    """A bucket of a flag that SDK counts were added to after it had settled (its end
    ``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` ago: an SDK retried a batch, or the Redis inbox was drained),
    and when they last were. The rollout engine stores the counts of settled buckets; it counts
    again what it stored of this bucket before ``written_at`` (``rollouts.models.ArmCounts``)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+", db_index=False)
    flag_key = models.CharField(max_length=200)
    bucket_start = models.DateTimeField()
    written_at = models.DateTimeField()

    class Meta:
        ordering = ["-written_at"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "flag_key", "bucket_start"], name="unique_late_bucket"),
        ]
        indexes = [models.Index(fields=["bucket_start"], name="late_bucket_time")]

    def __str__(self) -> str:
        return f"{self.flag_key} @ {self.bucket_start:%Y-%m-%d %H:%M:%S} written {self.written_at:%H:%M:%S}"

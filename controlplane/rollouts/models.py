"""Rollout plans, their stages and health rules, and the log of the engine's decisions.

The decision logic is pure (``decision.py``, ``rules.py``, ``transitions.py``); ``specs.py``
converts these rows to its dataclasses and back, and ``services.py`` is the only writer.
"""

from datetime import timedelta
from typing import Self, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef

from controlplane.flags.models import Flag
from controlplane.metrics.models import LateBucket
from controlplane.projects.models import Environment
from controlplane.rollouts import plan_fields


class RolloutPlan(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        ROLLED_BACK = "rolled_back", "Rolled back"
        CANCELLED = "cancelled", "Cancelled"

    class AdvanceMode(models.TextChoices):
        TIME = "time", "After the dwell time, if no rule objects"
        EVIDENCE = "evidence", "After the dwell time, once every comparison shows no regression"

    ACTIVE = (Status.RUNNING, Status.PAUSED)

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="rollout_plans")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="rollout_plans")
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    treatment_variant = models.CharField(max_length=128, default="on", help_text="The variant being rolled out.")
    control_variant = models.CharField(max_length=128, default="off", help_text="What everyone else gets.")
    advance_mode = models.CharField(max_length=16, choices=AdvanceMode.choices, default=AdvanceMode.TIME)
    max_hold_s = models.PositiveIntegerField(
        default=plan_fields.MAX_HOLD_S,
        help_text="Evidence mode: pause for a person if evidence is still short this long after the dwell.",
    )
    starvation_timeout_s = models.PositiveIntegerField(
        default=plan_fields.STARVATION_TIMEOUT_S,
        help_text='Pause with "not enough traffic" after this long without new data.',
    )
    alpha = models.FloatField(
        default=plan_fields.ALPHA, help_text="Error probability of the sequential tests (0.05 = 95% bounds)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    stage_index = models.PositiveIntegerField(default=0)
    percent = models.DecimalField(max_digits=6, decimal_places=3, default=0, help_text="Treatment share served now.")
    waiting_on = models.CharField(max_length=32, blank=True)
    status_reason = models.TextField(blank=True)
    runtime = models.JSONField(default=dict, blank=True, help_text="The engine's state between ticks.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["flag", "environment"],
                condition=models.Q(status__in=["running", "paused"]),
                name="one_active_rollout_per_flag_environment",
            )
        ]

    def __str__(self) -> str:
        return self.name or f"{self.flag.key} in {self.environment.key}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class Stage(models.Model):
    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField()
    percent = models.DecimalField(max_digits=6, decimal_places=3, help_text="Treatment share, 0.001 to 100.")
    min_dwell_s = models.PositiveIntegerField(help_text="Seconds to stay at least.")
    needs_approval = models.BooleanField(default=False)
    external_check_url = models.URLField(blank=True, help_text="Must answer 2xx before the stage advances.")

    class Meta:
        ordering = ["plan", "position"]
        constraints = [models.UniqueConstraint(fields=["plan", "position"], name="unique_stage_position")]

    def __str__(self) -> str:
        return f"stage {self.position + 1}: {self.percent}%"


class HealthRule(models.Model):
    class Metric(models.TextChoices):
        ERROR_RATE = "error_rate", "Error rate"
        LATENCY = "latency_p", "Latency percentile"
        RATIO = "ratio", "Custom counter ratio"

    class Comparison(models.TextChoices):
        VS_CONTROL_ABSOLUTE = "vs_control_absolute", "No worse than control + threshold"
        VS_CONTROL_RELATIVE = "vs_control_relative", "No worse than control x (1 + threshold)"
        ABSOLUTE = "absolute_threshold", "At most the threshold"

    class Severity(models.TextChoices):
        ROLLBACK = "rollback", "Roll back"
        PAUSE = "pause", "Pause for a person"

    class Source(models.TextChoices):
        SDK = "sdk", "SDK health signals"
        HTTP = "http", "HTTP/JSON endpoint"
        PROMETHEUS = "prometheus", "Prometheus (PromQL)"

    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="rules")
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.ERROR_RATE)
    comparison = models.CharField(max_length=24, choices=Comparison.choices, default=Comparison.VS_CONTROL_ABSOLUTE)
    threshold = models.FloatField(help_text="A rate (0.005 = 0.5 points), a fraction (relative) or milliseconds.")
    percentile = models.FloatField(null=True, blank=True, help_text="Latency rules: 0.95 for p95.")
    window_s = models.PositiveIntegerField(
        default=plan_fields.WINDOW_S, help_text="Absolute thresholds: the trailing window."
    )
    min_samples = models.PositiveIntegerField(
        default=plan_fields.MIN_SAMPLES, help_text="Requests needed before the rule may decide."
    )
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.ROLLBACK)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SDK)
    source_url = models.URLField(blank=True, help_text="HTTP: the URL to read. Prometheus: its base URL.")
    source_json_path = models.CharField(max_length=200, blank=True, help_text='e.g. "data.result.0.value"')
    source_events_query = models.TextField(
        blank=True,
        help_text='Prometheus: bad events of one arm, e.g. sum(increase(errors_total{variant="{variant}"}[{window}]))',
    )
    source_total_query = models.TextField(blank=True, help_text="Prometheus: all trials (requests) of one arm.")

    class Meta:
        ordering = ["plan", "id"]
        constraints = [models.UniqueConstraint(fields=["plan", "key"], name="unique_rule_key")]

    def __str__(self) -> str:
        return self.name or self.key


class Decision(models.Model):
    """One entry of a plan's decision log: what the engine or a person decided, and why."""

    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="decisions", db_index=False)
    at = models.DateTimeField(db_index=True)
    last_seen_at = models.DateTimeField(help_text="Identical consecutive holds are folded into one entry.")
    repeats = models.PositiveIntegerField(default=1)
    run_number = models.PositiveIntegerField(default=0)
    stage_index = models.PositiveIntegerField()
    action = models.CharField(max_length=16, db_index=True)
    percent = models.DecimalField(max_digits=6, decimal_places=3)
    status = models.CharField(max_length=16)
    waiting_on = models.CharField(max_length=32, blank=True)
    reason = models.TextField()
    outcomes = models.JSONField(default=list, blank=True)
    actor = models.CharField(max_length=200)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["plan", "at", "id"], name="decision_plan_latest")]
        """A plan's log, newest first, and its last entry (a hold folds into it) in one index lookup."""

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.action}: {self.reason}"


class ArmCounts(models.Model):
    """Counts of one arm (variant) over a period, ``since <= bucket start < until``, stored so that
    later ticks read one row instead of counting again (a ``metrics.queries.ArmTotals``)."""

    variant = models.CharField(max_length=128)
    since = models.DateTimeField()
    until = models.DateTimeField()

    class Meta:
        abstract = True


IN_FLIGHT = timedelta(seconds=60)
"""How long a batch's counting may take, from the time ingest counts it at (its request's arrival,
or the Redis inbox's drain: ``metrics.LateBucket.written_at``) to its commit, clock differences
between the web processes and the workers included. Stored SDK counts keep only buckets settled
this long, by when an on-time batch has committed, and a row counted less than this long after a
late batch's time may lack it (``SdkCountsQuerySet.with_recount``). The slowest batch measured, 10,000 series with
unit groups, took 16 s at load 5 (bench/scale.py's ingest section); one slower than this margin
(lock waits, a stalled process) may be left out of stored counts. Larger is safer; it costs each
tick this much more of its stage's buckets, and a late batch's rows a few more ticks recounted."""


_Counts = TypeVar("_Counts", bound=models.Model)


class SdkCountsQuerySet(models.QuerySet[_Counts]):
    def with_recount(self) -> Self:
        """The rows with ``recount``: whether a bucket of their period was counted late (a
        ``metrics.LateBucket`` of their flag written ``IN_FLIGHT`` before their ``counted_at`` or
        after), so they may lack it. One subquery in the query that reads them (a batch's plans' rows
        at once, ``measurements.stored_counts``), an index lookup a row."""
        late = LateBucket.objects.filter(
            environment_id=OuterRef("plan__environment_id"),
            flag_key=OuterRef("plan__flag__key"),
            bucket_start__gte=OuterRef("since"),
            bucket_start__lt=OuterRef("until"),
            written_at__gte=OuterRef("counted_at") - IN_FLIGHT,
        )
        return self.annotate(recount=Exists(late))


class SdkCounts(ArmCounts):
    """Counts of SDK reports (``metrics.queries.arm_counts_many``) of one of a plan's arms.

    ``counted_at``: the tick (engine time) when the oldest of its counts were read from the buckets;
    a row moved on keeps it. A row whose period has a bucket counted into late since then
    (``recount``) is counted again from the buckets (``rollouts.measurements``).
    """

    counted_at = models.DateTimeField()
    counts = models.BinaryField()
    """The ``ArmTotals``, packed (``measurements.totals_to_bytes``): its ~1,000 numbers as 8-byte
    integers, which a tick reads in a third of the time JSON took: 0.2 ms a row of 64 unit groups
    with latencies against 0.6 (migration 0007)."""
    recount: bool
    """Annotated by ``SdkCountsQuerySet.with_recount``."""

    objects = SdkCountsQuerySet.as_manager()

    class Meta(ArmCounts.Meta):
        abstract = True


class StageCounts(SdkCounts):
    """What SDKs reported for one arm (variant) of a plan over a period of a closed stage.

    Stored once the stage has closed and its reports have arrived (``rollouts.measurements``), so
    later ticks read one row instead of counting the stage's buckets again. ``since`` and ``until``
    are the bucket-aligned bounds the engine asked for.
    """

    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="stage_counts")

    class Meta(SdkCounts.Meta):
        verbose_name_plural = "stage counts"
        constraints = [
            models.UniqueConstraint(fields=["plan", "variant", "since", "until"], name="unique_stage_counts")
        ]

    def __str__(self) -> str:
        return f"{self.variant} {self.since:%H:%M:%S}-{self.until:%H:%M:%S}"


class RunningCounts(SdkCounts):
    """What SDKs reported for one arm (variant) of a plan from the start of a stage's period
    (``since``) up to ``until``: the end of the buckets already settled when a tick last moved it on.

    A period that is still growing (the open stage's, or a closed one whose reports may still
    arrive) is then measured as these counts plus the buckets from ``until`` on, instead of
    counting every bucket since the stage began on every tick (``rollouts.measurements``). A new
    stage or run begins a new period, so it starts from nothing.
    """

    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="running_counts")

    class Meta(SdkCounts.Meta):
        verbose_name_plural = "running counts"
        constraints = [models.UniqueConstraint(fields=["plan", "variant", "since"], name="unique_running_counts")]

    def __str__(self) -> str:
        return f"{self.variant} {self.since:%H:%M:%S}-{self.until:%H:%M:%S} so far"


class SourceCounts(ArmCounts):
    """What a health rule's external source (Prometheus) counted for one arm over a period of a
    closed stage: like ``StageCounts`` for SDK counts, stored once the period's data has arrived
    (``rollouts.stored_sources``) so that later ticks do not query the source for it again.
    ``totals`` is ``measurements.totals_to_json``'s: a source's few counts, with its own bounds."""

    rule = models.ForeignKey(HealthRule, on_delete=models.CASCADE, related_name="source_counts")
    totals = models.JSONField()

    class Meta(ArmCounts.Meta):
        verbose_name_plural = "source counts"
        constraints = [
            models.UniqueConstraint(fields=["rule", "variant", "since", "until"], name="unique_source_counts")
        ]

    def __str__(self) -> str:
        return f"{self.rule.key} {self.variant} {self.since:%H:%M:%S}-{self.until:%H:%M:%S}"

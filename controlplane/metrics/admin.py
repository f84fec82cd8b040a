"""Read-only views of stored metrics, for looking at what SDKs actually reported."""

from django.contrib import admin

from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.metrics.models import FlagActivity, MetricBatch, MetricBucket
from controlplane.readonly_admin import ReadOnlyAdmin


@admin.register(MetricBucket)
class MetricBucketAdmin(RoleAdminMixin, ReadOnlyAdmin):
    project_path = "environment__project"
    list_display = ["bucket_start", "environment", "flag_key", "variant", "evaluations", "successes", "errors"]
    list_filter = [("environment", admin.RelatedOnlyFieldListFilter), "flag_key", "variant"]
    search_fields = ["flag_key", "variant"]
    date_hierarchy = "bucket_start"
    list_select_related = ["environment__project"]
    ordering = ["-bucket_start", "flag_key", "variant"]
    show_full_result_count = False


@admin.register(MetricBatch)
class MetricBatchAdmin(RoleAdminMixin, ReadOnlyAdmin):
    project_path = "environment__project"
    list_display = ["received_at", "environment", "batch_id", "sdk_name", "sdk_version", "entries", "dropped"]
    list_filter = [("environment", admin.RelatedOnlyFieldListFilter), "sdk_name"]
    search_fields = ["batch_id"]
    list_select_related = ["environment__project"]
    show_full_result_count = False


@admin.register(FlagActivity)
class FlagActivityAdmin(RoleAdminMixin, ReadOnlyAdmin):
    project_path = "environment__project"
    list_display = ["flag_key", "environment", "last_evaluated_at", "first_evaluated_at"]
    list_filter = [("environment", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["flag_key"]
    list_select_related = ["environment__project"]

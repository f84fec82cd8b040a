"""Stored SDK counts (StageCounts, RunningCounts) packed as 8-byte integers (``counts``) instead of
JSON (``totals``): a tick read and decoded 12 such rows a plan, and rewrote four about once a
minute. Existing rows are converted both ways; the packing is this migration's own copy of
``measurements.totals_to_bytes`` (the layout as of now), so that a later change of it does not
change what this migration writes."""

import struct

from django.db import migrations, models

HEADER = struct.Struct("<d8q")
BOUNDS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
"""The standard latency bounds as of now (every SDK count's; ``totals`` kept them)."""
CHUNK = 500


def pack(totals):
    histogram = totals["histogram"]
    groups, errors, histograms = totals["unit_requests"], totals["unit_errors"], totals["unit_histograms"]
    counts = [*histogram, *groups, *errors, *(count for group in histograms for count in group)]
    header = HEADER.pack(
        totals["latency_sum"], totals["requests"], totals["errors"], totals["evaluations"],
        totals.get("ungrouped", 0), totals.get("latencies", True), len(histogram), len(groups), len(histograms),
    )  # fmt: skip
    return header + struct.pack(f"<{len(counts)}q", *counts)


def unpack(data):
    latency_sum, requests, errors, evaluations, ungrouped, latencies, size, groups, histograms = HEADER.unpack_from(
        data
    )
    counts = struct.unpack_from(f"<{size + 2 * groups + histograms * size}q", data, HEADER.size)
    first = size + 2 * groups
    return {
        "requests": requests, "errors": errors, "evaluations": evaluations, "histogram": list(counts[:size]),
        "bounds_ms": BOUNDS_MS, "latency_sum": latency_sum, "ungrouped": ungrouped,
        "unit_requests": list(counts[size : size + groups]), "unit_errors": list(counts[size + groups : first]),
        "unit_histograms": [list(counts[at : at + size]) for at in range(first, len(counts), size)],
        "latencies": bool(latencies),
    }  # fmt: skip


def convert(apps, source, target, change):
    """Every row's ``target`` field set to ``change`` of its ``source`` field."""
    for name in ("StageCounts", "RunningCounts"):
        model = apps.get_model("rollouts", name)
        rows = []
        for row in model.objects.only("pk", source).iterator(chunk_size=CHUNK):
            setattr(row, target, change(getattr(row, source)))
            rows.append(row)
            if len(rows) == CHUNK:
                model.objects.bulk_update(rows, [target])
                rows = []
        model.objects.bulk_update(rows, [target])


def to_bytes(apps, schema_editor):
    convert(apps, "totals", "counts", pack)


def to_json(apps, schema_editor):
    convert(apps, "counts", "totals", lambda data: unpack(bytes(data)))


class Migration(migrations.Migration):

    dependencies = [
        ('rollouts', '0006_counted_at'),
    ]

    operations = [
        migrations.AlterField(model_name='stagecounts', name='totals', field=models.JSONField(null=True)),
        migrations.AlterField(model_name='runningcounts', name='totals', field=models.JSONField(null=True)),
        migrations.AddField(model_name='stagecounts', name='counts', field=models.BinaryField(null=True)),
        migrations.AddField(model_name='runningcounts', name='counts', field=models.BinaryField(null=True)),
        migrations.RunPython(to_bytes, to_json),
        migrations.AlterField(model_name='stagecounts', name='counts', field=models.BinaryField()),
        migrations.AlterField(model_name='runningcounts', name='counts', field=models.BinaryField()),
        migrations.RemoveField(model_name='stagecounts', name='totals'),
        migrations.RemoveField(model_name='runningcounts', name='totals'),
    ]

"""How many rows PostgreSQL expects a query of the log to return, from its statistics: the
count of a list of millions of entries without reading them."""

from __future__ import annotations

import json

from django.db import connections
from django.db.models import QuerySet


def estimated_rows(queryset: QuerySet) -> int:
    """The planner's estimate of ``queryset``'s rows (EXPLAIN, nothing read)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])

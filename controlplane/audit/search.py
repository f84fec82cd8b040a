"""Searching the audit log by words: who (the actor), what (the object: a flag's key, an id) and
why (the reason), at millions of entries.

Every entry's words are in a GIN index (``audit_search``, on ``models.SEARCH_VECTOR``). How a page is found
does not depend on the planner's guess of how common a word is (a guess too low for a word
absent from the newest entries had it walk the log for 35 s): a search first reads the newest
``WINDOW`` entries of the list in order and keeps those that match. When they fill the page, that
is the page (a common word); otherwise the index gives every match, sorted by time (a rare word),
with settings that leave the planner no other way to read the log. Either way a page costs about
``WINDOW`` entries plus the word's matches in the index (bench/scale_audit.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from operator import and_

from django.contrib.postgres.search import SearchQuery
from django.db import connections, transaction
from django.db.models import Count, QuerySet, Window

from controlplane.audit.estimates import estimated_rows
from controlplane.audit.models import SEARCH_VECTOR, AuditEntry

WINDOW = 10_000
"""How many of the newest entries a search reads one by one (about 7 µs each) before it asks the
index: a word in one entry of 100 fills a page of 100 within them."""
INDEX_ONLY = {"enable_seqscan": "off", "enable_indexscan": "off", "work_mem": "64MB"}
"""While the index gives a rare word's matches: no walk of the log, and a bitmap of a few
million matches that stays exact (a lossy one re-reads every entry of its pages)."""
TERM = re.compile(r'"([^"]*)"|(\S+)')

SYNTAX = (
    "Words of the actor, the object (a flag's key, an id) or the reason; an entry has all of them. "
    '"two words" in that order; check* for words that begin with check. Newest first.'
)
"""The search box's help text (docs/audit.md has examples)."""


@dataclass(frozen=True)
class Found:
    """One page of a search and how many entries match (exact, or PostgreSQL's estimate when the
    page came from the newest entries and more match beyond them)."""

    entries: list[AuditEntry]
    count: int


def query_of(text: str) -> SearchQuery | None:
    """The search box's text as one query (see ``SYNTAX``); None when it has no word."""
    parts = [_term(phrase, word) for phrase, word in TERM.findall(text) if re.search(r"[^\W_]", phrase or word)]
    return reduce(and_, parts) if parts else None


def _term(phrase: str, word: str) -> SearchQuery:
    if phrase:
        return SearchQuery(phrase, search_type="phrase", config="simple")
    if word.endswith("*"):
        beginning = re.sub(r"[\\'*]", " ", word).strip()  # the characters that end or escape a quoted lexeme
        return SearchQuery(f"'{beginning}':*", search_type="raw", config="simple")
    return SearchQuery(word, search_type="plain", config="simple")


def matching(queryset: QuerySet[AuditEntry], query: SearchQuery) -> QuerySet[AuditEntry]:
    """The entries of ``queryset`` that have every word of ``query``."""
    return queryset.alias(words=SEARCH_VECTOR).filter(words=query)


def page(queryset: QuerySet[AuditEntry], query: SearchQuery, offset: int, limit: int) -> Found:
    """Entries ``offset`` to ``offset + limit`` of ``queryset``'s matches, newest first."""
    matched = matching(queryset, query).order_by("-at", "-id")
    recent, complete = _newest_matches(queryset, matched)
    if complete:
        ids, count = recent[offset : offset + limit], len(recent)
    elif len(recent) >= offset + limit:
        ids, count = recent[offset : offset + limit], max(len(recent), estimated_rows(matched))
    else:
        ids, count = _through_the_index(matched, offset, limit)
    entries = {entry.pk: entry for entry in queryset.order_by().filter(pk__in=ids)}
    return Found(entries=[entries[pk] for pk in ids], count=count)


def _newest_matches(queryset: QuerySet[AuditEntry], matched: QuerySet[AuditEntry]) -> tuple[list[int], bool]:
    """The ids of the matches among the newest ``WINDOW`` entries, and whether those were all."""
    edge = list(queryset.order_by("-at", "-id").values_list("at", flat=True)[WINDOW - 1 : WINDOW])
    recent = matched.filter(at__gte=edge[0]) if edge else matched
    return list(recent.values_list("pk", flat=True)), not edge


def _through_the_index(matched: QuerySet[AuditEntry], offset: int, limit: int) -> tuple[list[int], int]:
    """A page of the matches and their number, read through the search index alone."""
    with transaction.atomic(using=matched.db), connections[matched.db].cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in INDEX_ONLY),
            [part for setting in INDEX_ONLY.items() for part in setting],
        )
        rows = list(matched.annotate(total=Window(Count("pk"))).values_list("pk", "total")[offset : offset + limit])
        count = rows[0][1] if rows else matched.count()
        transaction.set_rollback(True, using=matched.db)  # SET LOCAL outlives a savepoint's release, not its rollback
    return [pk for pk, _ in rows], count

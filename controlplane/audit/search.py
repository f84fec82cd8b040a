"""Searching the audit log by words: who (the actor), what (the object: a flag's key, an id),
why (the reason) and which request (its id), at millions of entries.

Every entry's words are in a GIN index (``audit_search``, on ``models.SEARCH_VECTOR``), with the
values of the list's filters (project, environment, action, object type, the actor's trigrams):
the index matches a word and the filters together, so the matches of a common word in a list it
never meets are none, found without reading the log (a filter compared as the index reads it:
``models.among``).

How a page is found does not depend on the planner's guess of how common a word is (a guess too
low for a word absent from the newest entries had it walk the log for 35 s). A search first
walks the newest ``WINDOW`` entries of the list in its order and keeps those that match. When
they fill the page, that is the page (a common word); a later page walks as many more as the
matches found say it needs, while that costs less than reading them all through the index
(``WALK_COST``). Otherwise the index gives every match, sorted by time (a rare word). Each way
is held to its plan by the planner's settings (``WALK_ONLY``, ``INDEX_ONLY``). A page costs the walk
plus, for a rare word (or a list the word is rare in), its matches in the list, read through the
index (bench/scale_audit.py, docs/audit.md). The API pages its matches by cursor (``entries``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import reduce
from itertools import chain
from operator import and_

from django.contrib.postgres.search import SearchQuery
from django.db import connections, transaction
from django.db.models import Count, QuerySet, Window

from controlplane.audit.estimates import estimated_rows
from controlplane.audit.models import SEARCH_VECTOR, AuditEntry

WINDOW = 10_000
"""How many of the newest entries a search reads one by one before it asks the index: a word in
one entry of 100 fills a page of 100 within them. Each costs its to_tsvector, 3 µs for the
bench's short entries, 16 µs with a 250-character reason (7 µs a walked entry at 10M)."""
WALK_COST = 2
"""A walked entry costs about two matches read through the index (7 against 3.7 µs at 10M
entries): a later page walks further only while that is the cheaper way."""
WALK_ONLY = {"enable_bitmapscan": "off", "enable_seqscan": "off"}
"""While the newest entries are walked: in the list's order, through its index, never the words'
index (whose bitmap of a common word is millions of entries)."""
INDEX_ONLY = {"enable_seqscan": "off", "enable_indexscan": "off", "work_mem": "64MB"}
"""While the index gives a rare word's matches: no walk of the log, and a bitmap of a few
million matches that stays exact (a lossy one re-reads every entry of its pages)."""
TERM = re.compile(r'"([^"]*)"|(\S+)')
COMPOUNDS = {"asciihword", "hword", "numhword"}
"""The parser's names for a hyphenated word as a whole, which it then gives part by part too."""

SYNTAX = (
    "Words of the actor, the object (a flag's key, an id), the reason or the request id; an entry has all of them. "
    '"two words" in that order; check* for words that begin with check. Newest first.'
)
"""The search box's help text (docs/audit.md has examples)."""


@dataclass(frozen=True)
class Found:
    """One page of a search, where it begins (``offset``: the last page's when the one asked for
    is past the matches) and how many entries match: exact, or ``estimated`` from the walk when
    the page came from the newest entries and more may match beyond them."""

    entries: list[AuditEntry]
    count: int
    offset: int
    estimated: bool


def query_of(text: str) -> SearchQuery | None:
    """The search box's text as one query (see ``SYNTAX``); None when it has no word."""
    terms = [_term(phrase, word) for phrase, word in TERM.findall(text) if re.search(r"[^\W_]", phrase or word)]
    parts = [term for term in terms if term is not None]
    return reduce(and_, parts) if parts else None


def is_search(text: str) -> bool:
    """Whether the search box's text searches (it has a word): ``q=--`` is the list."""
    return query_of(text) is not None


def _term(phrase: str, word: str) -> SearchQuery | None:
    if phrase:
        return SearchQuery(phrase, search_type="phrase", config="simple")
    if word.endswith("*"):
        return _beginning(word.rstrip("*"))
    return SearchQuery(word, search_type="plain", config="simple")


def _beginning(word: str) -> SearchQuery | None:
    """``word*``: the parts of ``word`` as PostgreSQL's parser cuts them, in order, the last one a
    beginning: ``checkout-v*`` is checkout then a word beginning with v, ``flag-43*`` is flag then
    one beginning with -43 (to_tsquery of ``'flag-43':*`` would take every word beginning with
    flag, flagship's too, which the index reads as every entry). None when the parser finds no
    word in it (``½*``): the term is dropped, as a word of signs alone is."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT alias, token FROM ts_debug('simple', %s)", [word])
        parts = [token for alias, token in cursor.fetchall() if alias != "blank" and alias not in COMPOUNDS]
    if not parts:
        return None
    quoted = ["'" + part.replace("\\", "\\\\").replace("'", "''") + "'" for part in parts]
    return SearchQuery(" <-> ".join(quoted) + ":*", search_type="raw", config="simple")


def matching(queryset: QuerySet[AuditEntry], query: SearchQuery) -> QuerySet[AuditEntry]:
    """The entries of ``queryset`` that have every word of ``query``."""
    return queryset.alias(words=SEARCH_VECTOR).filter(words=query)


def page(queryset: QuerySet[AuditEntry], query: SearchQuery, offset: int, limit: int) -> Found:
    """Entries ``offset`` to ``offset + limit`` of ``queryset``'s matches, newest first; past the
    last match, the last page. An estimated count is too high after a burst of the word among the
    newest entries: a page past the matches finds none and their exact count, then the last one."""
    found = _page(queryset, query, offset, limit)
    if found.entries or not offset:
        return found
    last = _page(queryset, query, max(found.count - 1, 0) // limit * limit, limit)
    return replace(last, count=found.count, estimated=False)


def entries(
    queryset: QuerySet[AuditEntry], query: SearchQuery, offset: int, limit: int, oldest_first: bool = False
) -> list[AuditEntry]:
    """Matches ``offset`` to ``offset + limit`` of ``queryset``, newest first (or oldest first: the
    API's previous page, read backwards from its cursor), none past the last; read as ``page``
    reads them."""
    return _page(queryset, query, offset, limit, ORDERS[oldest_first]).entries


ORDERS = {False: ("-at", "-id"), True: ("at", "id")}
"""The list's order, newest first, and oldest first."""


def _page(
    queryset: QuerySet[AuditEntry], query: SearchQuery, offset: int, limit: int, order: tuple[str, str] = ORDERS[False]
) -> Found:
    matched = matching(queryset, query).order_by(*order)
    needed = offset + limit
    newest = _newest(queryset, matched, WINDOW, order)
    size = estimated_rows(queryset) if newest is not None else 0  # the list's, not the word's
    if newest is not None and len(newest.ids) < needed and newest.ids:  # a later page of a word the window found
        longer = math.ceil(WINDOW * needed / len(newest.ids) * 1.25)
        if longer * WALK_COST <= newest.count(size):
            newest = _newest(queryset, matched, longer, order)
    if newest is None or len(newest.ids) < needed:
        ids, count = _through_the_index(matched, offset, limit)
        estimated = False
    else:
        ids, count, estimated = newest.ids[offset:needed], newest.count(size), True
    entries = {entry.pk: entry for entry in queryset.order_by().filter(pk__in=ids)}
    return Found(entries=[entries[pk] for pk in ids], count=count, offset=offset, estimated=estimated)


@dataclass(frozen=True)
class Newest:
    """The ids of the matches among the newest ``walked`` entries of a list."""

    ids: list[int]
    walked: int

    def count(self, size: int) -> int:
        """The matches' share of the walk times the list's ``size`` (no guess of the word's
        frequency from the planner)."""
        return max(len(self.ids), round(len(self.ids) / self.walked * size))


def _newest(
    queryset: QuerySet[AuditEntry], matched: QuerySet[AuditEntry], walk: int, order: tuple[str, str]
) -> Newest | None:
    """The matches among the first ``walk`` entries of the list in ``order`` (the newest, or the
    oldest when read backwards); None when the list has fewer: its matches are then read through
    the index, since the walk's plan (no bitmap) would read the whole log for a list that no
    btree index holds (an actor's substring: 14 s at 10M entries for the 100 entries of one)."""
    edge = list(queryset.order_by(*order).values_list("at", flat=True)[walk - 1 : walk])
    if not edge:
        return None
    beyond = "at__gte" if order == ORDERS[False] else "at__lte"
    with _planned(matched.db, WALK_ONLY):
        return Newest(ids=list(matched.filter(**{beyond: edge[0]}).values_list("pk", flat=True)), walked=walk)


def _through_the_index(matched: QuerySet[AuditEntry], offset: int, limit: int) -> tuple[list[int], int]:
    """A page of the matches and their number, read through the search index alone."""
    with _planned(matched.db, INDEX_ONLY):
        rows = list(matched.annotate(total=Window(Count("pk"))).values_list("pk", "total")[offset : offset + limit])
        count = rows[0][1] if rows else (matched.count() if offset else 0)
    return [pk for pk, _ in rows], count


@contextmanager
def _planned(using: str, settings: dict[str, str]) -> Iterator[None]:
    """The block's queries planned with ``settings``, undone after it: SET LOCAL, in a transaction
    (or a savepoint) rolled back, since it outlives a savepoint's release."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        assignments = ", ".join("set_config(%s, %s, true)" for _ in settings)
        cursor.execute(f"SELECT {assignments}", list(chain(*settings.items())))
        yield
        transaction.set_rollback(True, using=using)

"""Statistics of the words' index (0006): PostgreSQL gathers an expression index's statistics
only when it analyzes the table, which autovacuum does after a tenth of the log is new.

Without them the planner takes a word of 214,286 entries in 10M for 250 and, through the index
with a project that none of them are in, reads every match rather than ANDing the project's
index (1,055 against 496 ms in bench/scale_audit.py). ANALYZE reads a sample (about 2 s at 10M
entries) and blocks no reads or writes.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_search_index")]

    operations = [migrations.RunSQL("ANALYZE audit_auditentry", migrations.RunSQL.noop)]

"""SDK health signals: ingest the batches SDKs post, store time-bucketed aggregates, answer queries."""

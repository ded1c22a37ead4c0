"""Events: the event store, ingestion from JSONL/CSV/Segment/CRM exports, mappings, reasons.

| module | holds |
| --- | --- |
| `event_store` | `EventStore` and its SQLite implementation: contacts and their event histories |
| `sqlite_schema` | the SQLite store's schema, migrations and connection settings |
| `sqlite_rows` | events and contacts as SQLite rows and back: derived ids, conflicts, unreadable |
| `postgres_store` | `PostgresEventStore`: the same store in PostgreSQL, shared by workers |
| `postgres_scans` | the run loop's bulk reads on PostgreSQL: one query per batch (arrays) |
| `scans` | bulk reads for the run loop: new events a trigger wants, unseen starts, needed history |
| `portable_scans` | the same reads through any store's per-contact methods (the reference) |
| `event_columns` | `EventColumns`: many contacts' events as numpy columns, read in bulk |
| `ingest` | the write loop: batches into the store, `IngestReport` |
| `bulk_load` | an import into an empty SQLite store builds its indexes after the rows |
| `dead_letter` | rejected rows (`DeadLetter`) and warnings about kept ones (`IngestNotes`) |
| `readers` | reading JSON Lines and CSV rows into events and contacts |
| `csv_records` | CSV records from lines: a quote that never closes costs one line; delimiters |
| `segment` | Segment `track`/`page`/`identify` payloads |
| `crm` | HubSpot and Salesforce contact exports |
| `mapping` | `EventMapping`: exports with their own column names and timestamp formats |
| `timezones` | time zones as CRMs, Windows and people write them, read as IANA names |
| `reasons` | rejection reasons a person understands |
"""

from __future__ import annotations

from gtmflow.tools.events.event_store import EventStore, SQLiteEventStore
from gtmflow.tools.events.ingest import IngestReport, ingest_contacts, ingest_events
from gtmflow.tools.events.mapping import EventMapping

__all__ = [
    "EventMapping",
    "EventStore",
    "IngestReport",
    "SQLiteEventStore",
    "ingest_contacts",
    "ingest_events",
]

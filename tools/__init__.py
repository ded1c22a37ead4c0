"""The world agents and pipes act on, one room per domain noun.

| room | holds |
| --- | --- |
| `gtmflow.tools.events` | the event store, ingestion (JSONL, CSV, Segment, CRM exports), mappings |
| `gtmflow.tools.delivery` | the outbox, transports (file, console, SMTP, webhook), approvals |
| `gtmflow.tools.context` | the Chroma context store, embeddings, chunking, the content loader |
| `gtmflow.tools.attribution` | touchpoints, journeys (touch paths), attribution models, scoring |
| `gtmflow.tools.transcripts` | reading call transcripts (text lines or JSON utterances) |
| `gtmflow.tools.deps` | what the runtime injects into every graph node |
| `gtmflow.tools.decisions` | the decision log behind `explain` |
| `gtmflow.tools.charts` | charts for notebooks and the HTML report (matplotlib) |
| `gtmflow.tools._paths` | config paths kept inside the workspace unless opted out |
| `gtmflow.tools.migrations` | the PostgreSQL store's schema, versioned (`gtmflow migrate`) |

Tools never import agents, graphs or the runtime (a test checks the direction of imports).
"""

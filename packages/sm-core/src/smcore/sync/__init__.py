"""Syncs: an engine that pages (one page = one unit: rows, raw payload, ServiceCall, cursor in
one transaction), one module per platform declaring its streams, and the job lifecycle. They
know nothing of Temporal: an activity is a thin call into them (docs/sm-core-sync.md)."""

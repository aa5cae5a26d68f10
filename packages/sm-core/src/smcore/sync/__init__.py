"""Sync services: one per stream, one page = one unit (rows, raw payload, ServiceCall, cursor
commit in one transaction). They know nothing of Temporal: an activity is a thin call into them."""

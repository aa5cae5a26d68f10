"""SM Core's HTTP API (FastAPI): blogger search, sync control and status, health."""

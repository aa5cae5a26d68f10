"""The HTTP API (FastAPI): the contract's section 6 endpoints."""

"""Data subject requests (contract section 8)."""

"""agronom."""

"""smcore."""

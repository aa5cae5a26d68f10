"""Users: their rows, pseudonymous references, events, plans and photo quota."""

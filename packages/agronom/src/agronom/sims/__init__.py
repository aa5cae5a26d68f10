"""Real HTTP servers standing in for third parties in development, tests and the demo."""

"""DataProcessor: components, idempotency, parallel execution within a video."""

"""The contract's daily exports (export_daily_metrics) and their rewriting on DSR."""

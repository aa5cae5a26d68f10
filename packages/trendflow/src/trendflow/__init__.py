"""trendflow."""

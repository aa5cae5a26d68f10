"""AudioProcessor: Tier-0 features from the Segmenter's audio only."""

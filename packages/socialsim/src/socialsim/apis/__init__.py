"""The simulated APIs: RocketAPI, a RapidAPI Instagram scraper and YouTube Data API v3."""

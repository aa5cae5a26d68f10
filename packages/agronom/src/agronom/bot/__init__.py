"""The Telegram bot: Bot API client, handlers, polling (development) and webhook (production)."""

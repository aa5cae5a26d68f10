"""The Telegram bot on aiogram 3: handlers (a Router), the runner (long polling in development, a
webhook in production) and the bot's client of our API."""

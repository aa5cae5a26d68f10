"""PRO for Telegram Stars (XTR): the 30-day subscription sold inside the bot, beside SBP."""

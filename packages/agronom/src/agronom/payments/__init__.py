"""Payments: T-Bank acquiring (SBP) notifications, PRO subscriptions, autopay."""

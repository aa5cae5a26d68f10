"""Targets, dataset and baseline models: forecasts of views and likes from features."""

"""Insights domain: the day's ranked insights (insight library) and the daily, weekly and monthly reports."""

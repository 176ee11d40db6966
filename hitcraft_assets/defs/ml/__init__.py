"""ML domain: anomaly flags with root causes, metric trends and forecasts, churn model and scores, personas."""

"""Alerts domain: anomaly alerts and run-failure notices (sensors only; resources in `defs/resources.py`)."""

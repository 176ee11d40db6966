"""Pure analytics on pandas DataFrames: anomaly detection and root cause, trends and forecasts, churn features and
models, personas, insight ranking. No Dagster imports here: every function runs and is tested on plain frames;
`hitcraft_assets.defs.ml` and `defs.insights` wire them as assets."""

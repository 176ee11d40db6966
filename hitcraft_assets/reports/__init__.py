"""Reports and delivery: the daily report, weekly digest and monthly review as Markdown (Dagster UI), plain
text, HTML and PDF (`daily`, `periodic`, `rendering`, `pdf`); e-mail over SMTP or to an outbox (`email`); the
executive summary by Claude with number grounding (`claude`, `grounding`); questions answered by Claude with
warehouse tools (`ask`). Pure Python: inputs are DataFrames, insights and settings; no Dagster, no database.
"""

"""dbt domain: the dbt project's models, seeds and tests as assets and asset checks (the `dbt` resource is in
`defs/resources.py`)."""

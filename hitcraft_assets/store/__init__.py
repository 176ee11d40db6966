"""Every read and write of the warehouse's tables: the only Python that holds SQL (dbt holds the rest)."""

"""Revenue domain: multi-touch attribution of paid conversions and revenue over the dbt touchpoint and
subscription marts (the MRR and subscription marts themselves are dbt models)."""

"""Dagster wiring, loaded by `dg.load_from_defs_folder` (see `definitions.py`): one folder per domain, the shared
resources in `resources.py`, the automation sensor in `automation.py`, the partitions in `partitions.py`."""

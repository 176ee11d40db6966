from datetime import date

import pytest

from hitcraft_assets.defs.dbt.partition_vars import partition_vars, vars_arg


def test_partition_window_vars():
    assert partition_vars("2026-03-01", "2026-03-31") == {"min_date": "2026-03-01", "max_date": "2026-03-31"}
    assert partition_vars(date(2026, 3, 1), date(2026, 3, 1)) == {"min_date": "2026-03-01", "max_date": "2026-03-01"}
    assert vars_arg("2026-03-01", "2026-03-02") == ["--vars", '{"min_date": "2026-03-01", "max_date": "2026-03-02"}']


def test_partition_window_rejects_reversed_or_malformed_days():
    with pytest.raises(ValueError, match="starts after it ends"):
        partition_vars("2026-03-02", "2026-03-01")
    with pytest.raises(ValueError):
        partition_vars("2026-3-1", "2026-03-02")

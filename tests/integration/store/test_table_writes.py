"""DataFrame writes into typed warehouse tables: an integer column that pandas turned into floats (one value
missing) is written as integers with the missing value as NULL, and a fractional value is an error naming the
column, never truncated."""

from __future__ import annotations

import pandas as pd
import pytest

from hitcraft_assets.store import warehouse
from hitcraft_assets.store.warehouse import Table

TABLE = Table("test_writes", "counts", (("name", "text not null"), ("users", "integer")), ("name",))


def test_integer_columns_with_a_missing_value_are_written_as_integers(warehouse_url):
    frame = pd.DataFrame({"name": ["a", "b"], "users": [175.0, None]})
    assert frame["users"].dtype.kind == "f"
    assert warehouse.replace_rows(TABLE, frame, url=warehouse_url) == 2
    back = warehouse.read_frame(f"select name, users from {TABLE.qualified} order by name", url=warehouse_url)
    assert back["users"].iloc[0] == 175 and back["users"].isna().iloc[1]
    with pytest.raises(ValueError, match=r'"test_writes"."counts".users: 1.5 is not an integer'):
        warehouse.replace_rows(TABLE, pd.DataFrame({"name": ["c"], "users": [1.5]}), url=warehouse_url)
    still = warehouse.read_frame(f"select count(*) as n from {TABLE.qualified}", url=warehouse_url)
    assert int(still["n"].iloc[0]) == 2  # the failed write changed nothing

"""The dbt project keeps Postgres-only SQL in dispatched `postgres__` macros (ARCHITECTURE: portable SQL).

Reads the project as text (no dbt, no database): every model, macro and test body outside a `postgres__` macro is
free of Postgres-only syntax, and every `postgres__x` has a dispatching `x` and a `default__x`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DBT_PROJECT = Path(__file__).resolve().parents[3] / "dbt_project"
SQL_FILES = sorted(p for folder in ("models", "macros", "tests") for p in (DBT_PROJECT / folder).rglob("*.sql"))

# Postgres-only syntax: ->> (jsonb), ~ (regex match), ::type, at time zone, generate_series, interval '…',
# extract(epoch …), aggregate filter (where …), array subscripts on an aggregate, analyze.
POSTGRES_ONLY = {
    "jsonb operator": re.compile(r"->>?"),
    "regex match": re.compile(r"\s!?~\*?\s*'"),
    "cast with ::": re.compile(r"::\s*\w"),
    "at time zone": re.compile(r"\bat\s+time\s+zone\b", re.I),
    "generate_series": re.compile(r"\bgenerate_series\s*\(", re.I),
    "interval literal": re.compile(r"\binterval\s+'", re.I),
    "extract(epoch": re.compile(r"\bextract\s*\(\s*epoch\b", re.I),
    "aggregate filter": re.compile(r"\)\s*filter\s*\(\s*where\b", re.I),
    "analyze": re.compile(r"^\s*analyze\b", re.I | re.M),
}
MACRO = re.compile(r"{%-?\s*macro\s+(\w+)\s*\((.*?){%-?\s*endmacro\s*-?%}", re.S)


def _sql_outside_jinja(text: str) -> str:
    """The SQL text a reader sees: Jinja comments, expressions and statements blanked out."""
    return re.sub(r"{#.*?#}|{{.*?}}|{%.*?%}", " ", text, flags=re.S)


def _macros() -> dict[str, tuple[Path, str]]:
    found = {}
    for path in SQL_FILES:
        for match in MACRO.finditer(path.read_text()):
            found[match.group(1)] = (path, match.group(0))
    return found


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(DBT_PROJECT)))
def test_no_postgres_only_sql_outside_postgres_macros(path: Path):
    text = re.sub(r"{#.*?#}", " ", path.read_text(), flags=re.S)
    portable = MACRO.sub(lambda m: " " if m.group(1).startswith("postgres__") else m.group(0), text)
    sql = _sql_outside_jinja(portable)
    found = [name for name, pattern in POSTGRES_ONLY.items() if pattern.search(sql)]
    assert not found, f"{path.name}: {found} outside a postgres__ macro (dispatch it: macros/cross_db/)"


def test_every_postgres_macro_is_dispatched_with_a_default():
    macros = _macros()
    postgres = [name.removeprefix("postgres__") for name in macros if name.startswith("postgres__")]
    assert postgres, "no postgres__ macros found: is the project where the test looks?"
    for name in postgres:
        assert name in macros, f"postgres__{name} has no dispatching macro {name}"
        assert f"adapter.dispatch('{name}', 'hitcraft')" in macros[name][1], f"{name} does not dispatch"
        assert f"default__{name}" in macros, f"{name} has no default__{name}"


def test_the_patterns_catch_what_they_are_for():
    samples = {
        "jsonb operator": "properties ->> 'x'",
        "regex match": "x ~ '^a'",
        "cast with ::": "x::date",
        "at time zone": "ts at time zone 'UTC'",
        "generate_series": "generate_series(a, b)",
        "interval literal": "interval '1 day'",
        "extract(epoch": "extract(epoch from ts)",
        "aggregate filter": "array_agg(x) filter (where x is not null)",
        "analyze": "analyze some_table",
    }
    for name, sql in samples.items():
        assert POSTGRES_ONLY[name].search(sql), name
    # Jinja string concatenation (`~`) and comments are not SQL
    assert not _sql_outside_jinja("{{ 'a' ~ ref('b') ~ ')' }} {# at time zone #}").strip()

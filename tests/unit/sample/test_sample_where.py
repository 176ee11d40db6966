import pytest

from hitcraft_assets.mixpanel.sample.wherexpr import WhereError, compile_where

EV = {"event": "Render Completed", "properties": {"prompt_id": "p1", "duration_s": 80.5, "role": "songwriter"}}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ('properties["prompt_id"] == "p1"', True),
        ("properties['prompt_id'] != 'p1'", False),
        ('event == "Render Completed"', True),
        ('properties["duration_s"] > 60 and properties["role"] == "songwriter"', True),
        ('properties["duration_s"] < 60 or event == "Sign Up"', False),
        ('not (event == "Sign Up")', True),
        ('defined(properties["role"])', True),
        ('defined(properties["plan"])', False),
        ('properties["missing"] > 3', False),
    ],
)
def test_where_subset(expr, expected):
    assert compile_where(expr)(EV) is expected


@pytest.mark.parametrize("expr", ['properties["a"] in ["x"]', "1 +", 'properties[a] == "b"', "", "foo(1)"])
def test_where_unsupported(expr):
    with pytest.raises(WhereError):
        compile_where(expr)

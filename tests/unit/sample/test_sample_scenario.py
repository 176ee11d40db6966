from datetime import date

import pytest
import yaml

from hitcraft_assets.mixpanel.sample import ScenarioError, load_scenario
from hitcraft_assets.mixpanel.sample.scenario import resolve_date


def test_packaged_default_loads():
    sc = load_scenario()
    assert sc.name == "hitcraft-default"
    assert any(p.text == "Help me turn my demo into a polished hit" for p in sc.prompts)
    assert {"songwriter", "producer", "artist", "beatmaker", "hobbyist"} <= set(sc.roles)
    assert sc.prompt_lifts and sc.early_dropoffs and sc.feature_retention and sc.incidents and sc.channel_churn


def test_env_var_selects_scenario(tmp_path, monkeypatch):
    raw = dict(load_scenario().raw, name="from-env")
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("HITCRAFT_SAMPLE_SCENARIO", str(p))
    assert load_scenario().name == "from-env"


def test_relative_dates():
    a = date(2025, 5, 15)
    assert resolve_date("anchor-12d", a) == date(2025, 5, 3)
    assert resolve_date("anchor", a) == a
    assert resolve_date("anchor+2d", a) == date(2025, 5, 17)
    assert resolve_date("2024-01-02", a) == date(2024, 1, 2)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda r: r["behaviour"]["render"].__setitem__("completion", 1.5), "behaviour.render.completion"),
        (lambda r: r["personas"]["roles"].__setitem__("dj", -1), "personas.roles.dj"),
        (
            lambda r: r["effects"]["channel_churn"][0].__setitem__("channel", "myspace"),
            "effects.channel_churn[0].channel",
        ),
        (
            lambda r: r["effects"]["prompt_completion_lift"][0].__setitem__("prompt_id", "nope"),
            "effects.prompt_completion_lift[0].prompt_id",
        ),
        (lambda r: r["effects"]["incident"][0].__setitem__("date", "yesterday"), "effects.incident[0].date"),
        (lambda r: r.__setitem__("colour", "blue"), "colour"),
        (lambda r: r["signups"].pop("per_day"), "signups.per_day"),
    ],
)
def test_errors_name_file_and_key(tmp_path, mutate, key):
    import copy

    raw = copy.deepcopy(load_scenario().raw)
    mutate(raw)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert str(p) in str(ei.value) and key in str(ei.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "none.yaml")
    p = tmp_path / "x.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(ScenarioError, match="YAML"):
        load_scenario(p)

"""The sample's experiments and AI metadata: Mixpanel's exposure event, sticky variants, and every event of a
scenario without the `experiments` / `ai` keys unchanged (only the planted render-v4 changes differ)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from hitcraft_assets.mixpanel.sample import Simulator, load_scenario
from hitcraft_assets.mixpanel.sample.scenario import ScenarioError

ANCHOR = date(2025, 5, 15)
EXTRA = {"model", "prompt_version", "message_id", "llm_model", "latency_ms", "capability", "intent"}


def _day(sim: Simulator, d: date) -> list[dict]:
    start = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return list(sim.events(start, start + timedelta(days=1)))


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    from importlib import resources

    text = resources.files("hitcraft_assets.mixpanel.sample").joinpath("scenarios/default.yaml").read_text()
    data = yaml.safe_load(text)
    data.pop("experiments")
    data.pop("ai")
    plain = tmp_path_factory.mktemp("sc") / "plain.yaml"
    plain.write_text(yaml.safe_dump(data, sort_keys=False))  # key order is vocabulary order
    return Simulator(load_scenario(), anchor_date=ANCHOR), Simulator(load_scenario(plain), anchor_date=ANCHOR)


def _strip(events: list[dict]) -> list[dict]:
    return [
        {"event": e["event"], "properties": {k: v for k, v in e["properties"].items() if k not in EXTRA}}
        for e in events
    ]


def test_days_before_any_experiment_or_rollout_are_unchanged_but_for_the_new_properties(sims):
    with_ext, plain = sims
    d = ANCHOR - timedelta(days=55)
    new, old = _day(with_ext, d), _day(plain, d)
    assert _strip(new) == old
    assert any("llm_model" in e["properties"] for e in new)


def test_later_days_differ_only_by_new_events_properties_and_planted_render_changes(sims):
    with_ext, plain = sims
    d = ANCHOR - timedelta(days=15)
    new = _day(with_ext, d)
    old = {e["properties"]["$insert_id"]: e for e in _day(plain, d)}
    known = set(old)  # exact duplicate lines share their $insert_id
    added = defaultdict(int)
    changed = 0
    for e in new:
        p = e["properties"]
        o = old.pop(p["$insert_id"], None)
        if p["$insert_id"] in known:
            if o is None:
                continue
        else:
            added[e["event"]] += 1
            continue
        stripped = {k: v for k, v in p.items() if k not in EXTRA}
        if stripped != o["properties"] or e["event"] != o["event"]:
            assert p.get("model") == "render-v4" and e["event"] in ("Render Completed", "Render Failed")
            changed += 1
    # render-v4 end events may move in from just after midnight (they finish earlier)
    assert set(added) <= {
        "$experiment_started",
        "Production Downloaded",
        "Message Liked",
        "Render Completed",
        "Render Failed",
    }
    assert added["Render Completed"] + added["Render Failed"] < 20
    assert added["$experiment_started"] > 500 and changed > 0
    # gone: downloads of renders that render-v4 made fail, and end events moved to the day before
    assert {e["event"] for e in old.values()} <= {"Production Downloaded", "Render Completed", "Render Failed"}


def test_exposures_follow_mixpanels_convention_and_variants_are_sticky(sims):
    with_ext, _ = sims
    seen: dict[tuple[str, str], set] = defaultdict(set)
    for k in (20, 19, 18):
        for e in _day(with_ext, ANCHOR - timedelta(days=k)):
            if e["event"] == "$experiment_started":
                p = e["properties"]
                seen[(p["Experiment name"], p["distinct_id"])].add(p["Variant name"])
    assert {name for name, _ in seen} == {"download_cta_v2", "assistant_greeting_aa", "onboarding_checklist"}
    assert all(len(v) == 1 for v in seen.values())


def test_ai_properties_on_renders_and_messages(sims):
    with_ext, _ = sims
    events = _day(with_ext, ANCHOR - timedelta(days=3))
    renders = [e["properties"] for e in events if e["event"] == "Render Started"]
    msgs = [e["properties"] for e in events if e["event"] == "Message Sent"]
    assert {p["model"] for p in renders} == {"render-v3", "render-v4"}
    assert all(p["latency_ms"] > 0 and p["capability"] and p["intent"] and p["llm_model"] for p in msgs)
    liked = [e["properties"] for e in events if e["event"] == "Message Liked"]
    by_id = {p["message_id"] for p in msgs}
    # a like just after midnight may belong to a message of the day before
    assert liked and sum(p.get("message_id") in by_id for p in liked) >= 0.99 * len(liked)


def test_bad_experiment_keys_name_the_key(tmp_path):
    from importlib import resources

    data = yaml.safe_load(
        resources.files("hitcraft_assets.mixpanel.sample").joinpath("scenarios/default.yaml").read_text()
    )
    data["experiments"][0]["effects"][0]["variant"] = "nope"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ScenarioError, match=r"experiments\[0\]\.effects\[0\]\.variant"):
        load_scenario(path)

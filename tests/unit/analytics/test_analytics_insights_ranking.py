from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from hitcraft_assets.analytics.insights.model import Insight
from hitcraft_assets.analytics.insights.ranking import history_records, is_history_record, select_insights

DAY = date(2026, 11, 20)


def insight(key, p=1e-6, impact=100.0, confidence=0.8, effect=0.1, day=DAY, generator="g", ci=(None, None)):
    return Insight(
        key=key, insight_type="risk", generator=generator, as_of=day, title=key, statement=key, metric=None,
        segment_type=None, segment_value=None, window_start=None, window_end=None, baseline_start=None,
        baseline_end=None, sample_size=1000, sample_unit="users", test="t", p_value=p, effect=effect,
        effect_relative=None, ci_low=ci[0], ci_high=ci[1], impact=impact, impact_unit="users",
        confidence=confidence,
    )  # fmt: skip


def test_bh_across_all_candidates_rejects_noise_and_keeps_signals():
    rng = np.random.default_rng(11)
    noise = [insight(f"noise:{i}", p=float(p), generator=f"gen{i % 5}") for i, p in enumerate(rng.uniform(size=60))]
    signals = [insight(f"signal:{i}", p=1e-8, generator=f"sig{i}") for i in range(3)]
    result = select_insights(noise + signals, top_n=10)
    assert {s.insight.key for s in result.selected} == {"signal:0", "signal:1", "signal:2"}
    assert result.tests == 63
    reasons = {r.insight.key: r.reason for r in result.rejected}
    assert all(reasons[f"noise:{i}"].startswith("not significant after Benjamini-Hochberg") for i in range(60))
    # one candidate at p = 0.04 among many nulls is not a discovery, alone it is
    assert select_insights([insight("lonely", p=0.04)]).selected[0].insight.key == "lonely"
    crowded = select_insights([insight("lonely", p=0.04)] + noise)
    assert crowded.selected == []
    assert crowded.rejected[0].insight.key == "lonely" and crowded.rejected[0].q_value > 0.05


def test_interval_only_candidates_need_an_interval_excluding_zero():
    result = select_insights(
        [insight("ok", p=None, ci=(0.1, 0.3)), insight("zero", p=None, ci=(-0.1, 0.3)), insight("none", p=None)]
    )
    assert [s.insight.key for s in result.selected] == ["ok"]
    assert result.selected[0].q_value is None
    reasons = {r.insight.key: r.reason for r in result.rejected}
    assert reasons == {"zero": "interval includes 0", "none": "no p-value and no interval"}


def test_ranking_order_is_log_impact_times_confidence_times_novelty():
    a = insight("a", impact=1000, confidence=0.5)  # 3.0004 * 0.5 = 1.50
    b = insight("b", impact=99, confidence=0.9)  # 2 * 0.9 = 1.80
    c = insight("c", impact=9, confidence=1.0)  # 1
    result = select_insights([a, b, c], max_per_generator=None)
    assert [s.insight.key for s in result.selected] == ["b", "a", "c"]
    assert [s.rank for s in result.selected] == [1, 2, 3]
    assert result.selected[0].score == pytest.approx(1.8, abs=1e-3)


def test_top_n_and_per_generator_cap():
    many = [insight(f"f:{i}", impact=100 - i, generator="funnel") for i in range(5)] + [
        insight("p", impact=10, generator="prompt")
    ]
    result = select_insights(many, top_n=5, max_per_generator=3)
    assert [s.insight.key for s in result.selected] == ["f:0", "p", "f:1", "f:2"]  # each generator's best first
    reasons = {r.insight.key: r.reason for r in result.rejected}
    assert reasons["f:3"] == "already 3 from funnel"
    assert select_insights(many, top_n=2, max_per_generator=None).rejected[-1].reason == "ranked below the top 2"


def test_same_key_on_consecutive_days_is_merged_and_loses_novelty():
    previous = []
    runs = []
    for k in range(4):
        day = DAY + timedelta(days=k)
        result = select_insights([insight("prompt:x", day=day), insight(f"new:{k}", day=day)], previous=previous)
        runs.append({s.insight.key: s for s in result.selected})
        previous = [s.to_record() for s in result.selected]  # only yesterday's records
    last = runs[-1]["prompt:x"]
    assert (last.first_seen, last.days_running) == (DAY, 4)
    assert [r["prompt:x"].novelty for r in runs] == pytest.approx([1.0, 0.85, 0.85**2, 0.85**3], abs=1e-3)
    assert runs[-1]["new:3"].novelty == 1.0
    assert [s.insight.key for s in select_insights([insight("prompt:x", day=DAY + timedelta(days=4))],
                                                   previous=previous).selected] == ["prompt:x"]  # fmt: skip
    # the fresh finding now outranks the long-running one of the same weight
    assert list(runs[-1]) == ["new:3", "prompt:x"]


def test_findings_left_out_by_the_cap_still_age():
    # four lasting findings of one generator, one slot a day: each day's left-out ones are not news the next day
    previous, novelties = [], []
    for k in range(4):
        day = DAY + timedelta(days=k)
        result = select_insights([insight(f"f:{i}", day=day, generator="funnel") for i in range(4)],
                                 previous=previous, max_per_generator=1)  # fmt: skip
        novelties.append({s.insight.key: s.novelty for s in result.selected} |
                         {r.insight.key: r.novelty for r in result.rejected})  # fmt: skip
        previous = [p for p in previous if p["as_of"] > day - timedelta(days=7)] + history_records(
            result.selected, result.rejected
        )
    assert set(novelties[0].values()) == {1.0}
    assert novelties[-1] == pytest.approx(dict.fromkeys(novelties[-1], 0.85**3), abs=1e-3)
    stored = [r.to_record() | {"status": "rejected"} for r in result.rejected]
    assert all(is_history_record(r) for r in stored) and stored[0]["days_running"] == 4
    assert not is_history_record({"status": "rejected", "reason": "not significant after Benjamini-Hochberg"})


def test_a_changed_effect_is_news_again_but_stays_one_running_record():
    yesterday = select_insights([insight("k", effect=0.10, day=DAY - timedelta(days=1))]).selected[0].to_record()
    same = select_insights([insight("k", effect=0.11)], previous=[yesterday]).selected[0]
    flipped = select_insights([insight("k", effect=-0.10)], previous=[yesterday]).selected[0]
    bigger = select_insights([insight("k", effect=0.2)], previous=[yesterday]).selected[0]
    assert same.novelty == 0.85 and flipped.novelty == 1.0 and bigger.novelty == 1.0
    assert (bigger.first_seen, bigger.days_running) == (DAY - timedelta(days=1), 2)


def test_after_a_gap_the_run_restarts_and_old_reports_stop_counting():
    three_days_ago = replace(insight("k"), as_of=DAY - timedelta(days=3))
    record = select_insights([three_days_ago]).selected[0].to_record()
    again = select_insights([insight("k")], previous=[record]).selected[0]
    assert (again.first_seen, again.days_running, again.novelty) == (DAY, 1, 0.85)
    record["as_of"] = DAY - timedelta(days=30)
    assert select_insights([insight("k")], previous=[record]).selected[0].novelty == 1.0


def test_duplicate_keys_keep_the_strongest_evidence():
    result = select_insights([insight("k", p=1e-3, impact=5), insight("k", p=1e-9, impact=7)])
    assert len(result.selected) == 1 and result.selected[0].insight.impact == 7
    assert [r.reason for r in result.rejected] == ["duplicate key"]

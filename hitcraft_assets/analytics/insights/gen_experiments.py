"""Insights from experiments and AI attribution (generators of the experiments domain).

- experiment_result_insights (experiments.experiment_summaries + readouts): an experiment whose assignment is
  broken (sample-ratio mismatch: a risk, said first), one that should ship (a success: the winning metric with
  its always-valid interval) and one a guardrail stops (a risk). When a stored hypothesis (a recommended A/B test)
  is linked to the experiment, the statement names it next to the result and its predicted effect.
- ai_version_insights (experiments.ai_rollouts): a model or prompt version that made an outcome worse for a
  segment (an AI regression: difference in differences against users still on the previous version) and one that
  made it better (a version win).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.base import build_insight
from hitcraft_assets.analytics.insights.model import Insight, Recommendation

__all__ = ["ai_version_insights", "experiment_result_insights"]

CONFIDENCE = 0.95  # of the readouts' always-valid intervals


def _day(frame: pd.DataFrame, column: str, as_of: date) -> pd.DataFrame:
    days = pd.to_datetime(frame[column]).dt.date
    frame = frame[days <= as_of]
    if frame.empty:
        return frame
    return frame[pd.to_datetime(frame[column]).dt.date == pd.to_datetime(frame[column]).dt.date.max()]


def _hypothesis_text(hypotheses: pd.DataFrame | None, experiment: str) -> tuple[str, dict]:
    if hypotheses is None or hypotheses.empty or "experiment" not in hypotheses:
        return "", {}
    rows = hypotheses[hypotheses["experiment"] == experiment]
    if rows.empty:
        return "", {}
    h = rows.iloc[0]
    predicted = h.get("predicted_effect")
    pred = (
        f" (predicted effect {text.pp(float(predicted))}, {int(h['users_per_arm']):,} users per arm)"
        if (predicted is not None and pd.notna(predicted) and pd.notna(h.get("users_per_arm")))
        else ""
    )
    numbers = {}
    if pred:
        numbers = {"predicted_effect": float(predicted), "users_per_arm": float(h["users_per_arm"])}
    return f' It tests the hypothesis recommended on {h["created_on"]}: "{h["hypothesis"]}"{pred}.', numbers


def experiment_result_insights(
    summaries: pd.DataFrame | None,
    readouts: pd.DataFrame | None,
    as_of: date,
    hypotheses: pd.DataFrame | None = None,
) -> list[Insight]:
    if summaries is None or summaries.empty or readouts is None:
        return []
    out = []
    today = _day(summaries, "as_of", as_of)
    for s in today.itertuples(index=False):
        rows = readouts[
            (readouts["experiment"] == s.experiment)
            & (pd.to_datetime(readouts["as_of"]).dt.date == pd.to_datetime(s.as_of).date())
        ]
        users = int(sum((s.variants or {}).values())) if isinstance(s.variants, dict) else int(len(rows))
        link, link_numbers = _hypothesis_text(hypotheses, s.experiment)
        common = dict(
            as_of=as_of,
            generator="experiment_result_insights",
            window_start=s.first_exposure,
            window_end=s.as_of,
            baseline_start=None,
            baseline_end=None,
            segment_type="experiment",
            segment_value=s.experiment,
            sample_unit="users",
        )
        if not s.trustworthy:
            # built from the summary's columns, not its free text, so that every number quoted is evidence
            counts = s.variants if isinstance(s.variants, dict) else {}
            srm_numbers = {f"users_{variant}": float(n) for variant, n in counts.items()}
            segment = ""
            if s.srm_segment and pd.notna(s.srm_segment_p_value):
                segment = f"; {s.srm_segment}: {text.p_text(float(s.srm_segment_p_value))}"
                srm_numbers["srm_segment_p_value"] = float(s.srm_segment_p_value)
            p = s.srm_segment_p_value if pd.notna(s.srm_segment_p_value) else s.srm_p_value
            # p = 0 is the readout's verdict on exposed users in a variant the design lacks, not a chi-square
            srm_test = (
                f"chi-square {text.p_text(float(s.srm_p_value))}"
                if s.srm_p_value > 0
                else "a variant outside the design"
            )
            out.append(
                build_insight(
                    key=f"experiment_result:{s.experiment}",
                    insight_type="risk",
                    title=f"Experiment {s.experiment} is untrustworthy: sample-ratio mismatch",
                    statement=(
                        f"UNTRUSTWORTHY: {s.experiment} has a sample-ratio mismatch ("
                        + " vs ".join(f"{variant} {text.count(n)}" for variant, n in counts.items())
                        + f" users against its designed split; {srm_test}{segment}): assignment or exposure "
                        f"logging is broken, so none of its effects can be trusted. Decision: stop, fix it and "
                        f"restart.{link}"
                    ),
                    metric=None,
                    sample_size=users,
                    test="chi-square sample-ratio test (per platform, Bonferroni)",
                    p_value=float(p),
                    effect=None,
                    effect_relative=None,
                    ci_low=None,
                    ci_high=None,
                    impact=users,
                    impact_unit="users",
                    numbers={"srm_p_value": float(s.srm_p_value), "users": users, **srm_numbers, **link_numbers},
                    recommendations=(
                        Recommendation(
                            kind="investigate",
                            action=(
                                f"Fix {s.experiment}'s assignment or exposure logging"
                                + (f" ({s.srm_segment})" if s.srm_segment else "")
                                + " and restart it."
                            ),
                        ),
                    ),
                    **common,
                )
            )
            continue
        if s.decision not in ("ship", "stop") or rows.empty:
            continue
        moved = rows[rows["significant"].astype(bool)]
        if s.decision == "ship":
            best = moved[(moved["direction"] == "better") & ~moved["guardrail"].astype(bool)]
            if best.empty:
                continue
            r = best.loc[best["rel_effect"].abs().idxmax()]
            kind, title = (
                "success",
                f"Ship {r['variant']} of {s.experiment}: {r['label']} {text.signed_pct(r['rel_effect'])}",
            )
            rec = Recommendation(kind="product_change", action=f"Ship {r['variant']} of {s.experiment} to everyone.")
        else:
            # a worse guardrail is what stops an experiment first (the readout's decision order)
            worse = moved[moved["direction"] == "worse"].sort_values("guardrail", ascending=False, kind="stable")
            if worse.empty:
                continue
            r = worse.iloc[0]
            kind, title = (
                "risk",
                f"Stop {s.experiment}: {r['label']} {text.signed_pct(r['rel_effect'])} in {r['variant']}",
            )
            rec = Recommendation(kind="product_change", action=f"Stop {s.experiment} and keep {s.control}.")
        why = {
            "ship": "with no guardrail worse",
            "stop": f"{'a guardrail' if bool(r['guardrail']) else 'a goal metric'} got worse",
        }[s.decision]
        statement = (
            f"{s.experiment}: {r['variant']} vs {s.control} on {r['label']}: {r['variant_mean']:.4g} vs "
            f"{r['control_mean']:.4g} ({text.signed_pct(r['rel_effect'])}; always-valid {text.pct(CONFIDENCE, 0)} "
            f"interval of the difference {r['seq_ci_low']:+.4g} to {r['seq_ci_high']:+.4g}, "
            f"{text.p_text(float(r['p_adjusted']))} after Benjamini-Hochberg over {len(rows)} metric readouts; "
            f"{text.count(r['n_variant'])} and {text.count(r['n_control'])} users with a complete outcome window). "
            f"Decision: {s.decision}, {why}.{link}"
        )
        out.append(
            build_insight(
                key=f"experiment_result:{s.experiment}",
                insight_type=kind,
                title=title,
                statement=statement,
                metric=None,
                sample_size=int(r["n_variant"] + r["n_control"]),
                test="always-valid confidence sequence (CUPED), Benjamini-Hochberg",
                p_value=float(r["p_adjusted"]),
                effect=float(r["cuped_abs_effect"]),
                effect_relative=float(r["rel_effect"]),
                ci_low=float(r["seq_ci_low"]),
                ci_high=float(r["seq_ci_high"]),
                impact=float(r["n_variant"] + r["n_control"]),
                impact_unit="users",
                numbers={
                    "variant_mean": float(r["variant_mean"]),
                    "control_mean": float(r["control_mean"]),
                    "rel": float(r["rel_effect"]),
                    "ci_low": float(r["seq_ci_low"]),
                    "ci_high": float(r["seq_ci_high"]),
                    "p_adjusted": float(r["p_adjusted"]),
                    "confidence": CONFIDENCE,
                    "metric_readouts": float(len(rows)),
                    "n_variant": float(r["n_variant"]),
                    "n_control": float(r["n_control"]),
                    **link_numbers,
                },
                recommendations=(rec,),
                **common,
            )
        )
    return out


def ai_version_insights(rollouts: pd.DataFrame | None, as_of: date) -> list[Insight]:
    if rollouts is None or rollouts.empty:
        return []
    out = []
    today = _day(rollouts, "as_of", as_of)
    for (version, column), g in today.groupby(["version", "column_name"]):
        seg = g[(g["segment_type"] != "all") & (g["effect"] == "worse")]
        overall = g[g["segment_type"] == "all"]
        for kind, rows in (("risk", seg), ("success", overall[overall["effect"] == "better"])):
            for r in rows.itertuples(index=False):
                outcome = {"is_failure": "render failure rate", "liked": "like rate"}.get(r.outcome, r.outcome)
                who = "all users" if r.segment_type == "all" else f"{r.segment_type} = {r.segment_value}"
                statement = (
                    f"{column} {version} (from {r.rollout_day}, replacing {r.previous}) changed the {outcome} of "
                    f"{who} by {text.pp(r.did)} (difference in differences against users still on {r.previous}: "
                    f"{text.pct(r.treated_pre)} -> {text.pct(r.treated_post)} on {version} vs "
                    f"{text.pct(r.control_pre)} -> {text.pct(r.control_post)}; {text.pct(CONFIDENCE, 0)} CI "
                    f"{text.pp(r.ci_low)} to {text.pp(r.ci_high)}, {text.p_text(r.p_value)}, SE clustered by user; "
                    f"{text.count(r.treated_users)} and {text.count(r.control_users)} users)."
                )
                name = "ai_regression" if kind == "risk" else "version_win"
                action = (
                    f"Roll {who} back to {r.previous} and investigate {version}."
                    if kind == "risk"
                    else f"Roll {version} out to every user."
                )
                out.append(
                    build_insight(
                        key=f"{name}:{version}:{r.segment_value}",
                        insight_type=kind,
                        generator="ai_version_insights",
                        as_of=as_of,
                        title=(
                            f"AI regression: {version} {outcome} {text.pp(r.did)} for {who}"
                            if kind == "risk"
                            else f"Version win: {version} {outcome} {text.pp(r.did)}"
                        ),
                        statement=statement,
                        metric="render_failure_rate" if r.outcome == "is_failure" else None,
                        segment_type=None if r.segment_type == "all" else r.segment_type,
                        segment_value=None if r.segment_type == "all" else r.segment_value,
                        window_start=r.rollout_day,
                        window_end=as_of,
                        baseline_start=None,
                        baseline_end=r.rollout_day,
                        sample_size=int(r.treated_users + r.control_users),
                        sample_unit="users",
                        test="difference in differences (OLS, SE clustered by user)",
                        p_value=float(r.p_value),
                        effect=float(r.did),
                        effect_relative=(float(r.did / r.treated_pre) if r.treated_pre else None),
                        ci_low=float(r.ci_low),
                        ci_high=float(r.ci_high),
                        impact=float(r.treated_users),
                        impact_unit="users",
                        numbers={
                            "did": float(r.did),
                            "ci_low": float(r.ci_low),
                            "ci_high": float(r.ci_high),
                            "p_value": float(r.p_value),
                            "treated_users": float(r.treated_users),
                            "control_users": float(r.control_users),
                            "treated_pre": float(r.treated_pre),
                            "treated_post": float(r.treated_post),
                            "control_pre": float(r.control_pre),
                            "control_post": float(r.control_post),
                            "confidence": CONFIDENCE,
                        },
                        recommendations=(
                            Recommendation(
                                kind="product_change" if kind == "success" else "investigate", action=action
                            ),
                        ),
                    )
                )
    return out

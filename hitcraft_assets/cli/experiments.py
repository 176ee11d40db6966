"""`hitcraft experiments …`: experiment readouts (list, show) and the sample-size / MDE / duration planner."""

from __future__ import annotations

import typer

from hitcraft_assets.cli.common import EmbeddedDatabase, UserError, parse_day, say, show

experiments_app = typer.Typer(
    help="Experiments: the latest readouts (decision, SRM, effects) and the test planner.", no_args_is_help=True
)


def _store():
    from hitcraft_assets.store import experiments

    if not experiments.has_readouts():
        raise UserError("no experiment readouts yet: materialize experiments/readouts (`hitcraft demo` or a backfill)")
    return experiments


@experiments_app.command("list")
def list_experiments(day: str = typer.Option(None, "--date", help="As of YYYY-MM-DD (default: newest).")) -> None:
    """Every experiment's newest readout: status, decision, SRM, users per arm and the expected date."""
    with EmbeddedDatabase():
        frame = _store().latest_summaries(parse_day(day, "--date") if day else None)
        cols = [
            "experiment",
            "as_of",
            "status",
            "decision",
            "trustworthy",
            "srm_p_value",
            "users_per_arm_now",
            "needed_users_per_arm",
            "expected_date",
        ]
        show("experiments", frame[cols] if len(frame) else frame, "(no experiment)")


@experiments_app.command("show")
def show_experiment(
    name: str = typer.Argument(..., help="Experiment name."),
    day: str = typer.Option(None, "--date", help="As of YYYY-MM-DD (default: newest)."),
) -> None:
    """One experiment: the verdict first (an SRM warning before anything else), then each metric's effect."""
    with EmbeddedDatabase():
        store = _store()
        summaries = store.latest_summaries(parse_day(day, "--date") if day else None)
        row = summaries[summaries["experiment"] == name]
        if row.empty:
            known = ", ".join(summaries["experiment"]) or "none"
            raise UserError(f"no experiment {name!r} (known: {known})")
        r = row.iloc[0]
        say(f"{name} as of {r['as_of']} ({r['status']}; variants {r['variants']}; excluded {r['excluded_users']})")
        say(r["summary"])
        rows = store.readout_rows(name, r["as_of"])
        if len(rows):
            rows = rows.assign(
                effect=rows["rel_effect"].map(lambda v: f"{v:+.1%}"),
                ci=[f"{lo:+.3g} .. {hi:+.3g}" for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
                always_valid_ci=[f"{lo:+.3g} .. {hi:+.3g}" for lo, hi in zip(rows["seq_ci_low"], rows["seq_ci_high"])],
                cuped_var_reduction=rows["variance_reduction"].map(lambda v: "" if v != v else f"{v:.0%}"),
            )
            cols = [
                "variant",
                "metric",
                "guardrail",
                "n_control",
                "n_variant",
                "control_mean",
                "variant_mean",
                "effect",
                "ci",
                "always_valid_ci",
                "p_adjusted",
                "direction",
                "cuped_var_reduction",
            ]
            show("metrics (effect = relative; intervals absolute)", rows[cols])


@experiments_app.command("plan")
def plan(
    metric: str = typer.Option(..., "--metric", help="An experiment metric (seeds/experiment_metrics.csv)."),
    mde: float = typer.Option(..., "--mde", help="Minimum detectable effect, relative to the baseline (0.05 = 5 %)."),
    absolute: bool = typer.Option(False, "--absolute", help="--mde is absolute (in the metric's unit)."),
    arms: int = typer.Option(2, "--arms", min=2),
    alpha: float = typer.Option(0.05, "--alpha"),
    power: float = typer.Option(0.8, "--power"),
    window_days: int = typer.Option(7, "--window-days", min=1, help="Outcome window per user."),
) -> None:
    """Users per arm, and days at the current traffic, to detect a change of --mde in --metric (fixed horizon and
    the always-valid readouts the platform uses); baseline and variance from the last --window-days of events."""
    import math

    from hitcraft_assets.analytics.experiments.metrics import metric_by_name, user_values
    from hitcraft_assets.analytics.experiments.planner import plan_test
    from hitcraft_assets.analytics.experiments.stats import arm_stats

    try:
        m = metric_by_name(metric)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise UserError("--alpha and --power must be between 0 and 1")
    if mde == 0:
        raise UserError("--mde must not be 0")
    with EmbeddedDatabase():
        from hitcraft_assets.store import experiments as store

        frame = store.planning_frame(window_days)
    if frame.empty:
        raise UserError("no events in the warehouse yet: load some days first (`hitcraft demo` or a backfill)")
    for c in frame.columns:
        if c not in ("user_key", "last_day"):
            frame[c] = frame[c].astype(float)
    num, den = user_values(frame, m)
    st = arm_stats(num, den)
    daily = len(frame) / window_days
    try:
        p = plan_test(
            metric=m.metric,
            kind=m.kind,
            baseline=st.mean,
            sd=st.sd_user,
            daily_users=daily,
            mde_rel=None if absolute else mde,
            mde_abs=mde if absolute else None,
            arms=arms,
            alpha=alpha,
            power=power,
            start=frame["last_day"].iloc[0],
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    say(
        f"{m.label} ({m.metric}, {m.kind}): baseline {p.baseline:.4g}, per-user sd {p.sd:.4g}, "
        f"from {len(frame):,} users active in the {window_days} days to {frame['last_day'].iloc[0]}"
    )
    say(
        f"MDE {p.mde_abs:+.4g} absolute ({p.mde_rel:+.1%}); alpha {alpha}, power {power}, {arms} arms, "
        f"~{daily:,.0f} new users a day"
    )
    say(
        f"fixed horizon: {p.users_per_arm:,} users per arm"
        + (f", {p.fixed_days} days" if p.fixed_days is not None else "")
    )
    say(
        f"always-valid (daily looks, as the readouts): {p.sequential_users_per_arm:,} users per arm"
        + (f", {p.days} days (until {p.expected_end})" if p.days is not None else "")
        + ("" if math.isfinite(p.baseline) else "")
    )

"""Experiment analysis (pure: pandas, scipy, statsmodels): metric definitions, the statistics of a readout (SRM,
CUPED, always-valid confidence sequences, delta method, Benjamini-Hochberg), readouts with a decision, the
sample-size / MDE / duration planner, and A/A simulations."""

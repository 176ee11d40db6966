"""Experiments domain: daily experiment readouts (SRM, CUPED, always-valid inference, decisions) from the dbt
exposure and outcome marts, with SRM and exposure-consistency checks, and AI generation attribution (outcomes by
model / prompt version / capability / intent, rollouts with difference in differences, per-model anomalies)."""

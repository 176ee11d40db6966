"""Insights: candidate findings from the modeled data and ML outputs, tested, corrected for multiple testing,
ranked and merged across days. `model.Insight` is the record every part shares."""

"""The real Mixpanel client on the sample Mixpanel in-process, for tests that load sample days."""

from __future__ import annotations

from datetime import date, datetime

import httpx

from hitcraft_assets.mixpanel.client import MixpanelClient, MixpanelConfig
from hitcraft_assets.mixpanel.ratelimit import RateLimiter
from hitcraft_assets.mixpanel.sample import SampleMixpanelApp, Simulator, load_scenario


def sample_client(*, anchor: date, now: datetime, scale: float = 1.0) -> MixpanelClient:
    app = SampleMixpanelApp(Simulator(load_scenario(), anchor_date=anchor, scale=scale), now=now)
    config = MixpanelConfig(
        project_id="sample", username="sample", secret="sample", api_base_url="http://sample-mixpanel.local"
    )
    return MixpanelClient(
        config, transport=httpx.WSGITransport(app=app), limiter=RateLimiter.unlimited(), now=lambda: now
    )

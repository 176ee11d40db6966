"""The sample Mixpanel: a deterministic HitCraft behaviour simulator served as a Mixpanel-compatible API.

from hitcraft_assets.mixpanel.sample import load_scenario, Simulator, SampleMixpanelApp, serve_sample_mixpanel
app = SampleMixpanelApp(Simulator(load_scenario()))
httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sample-mixpanel")   # in-process
with serve_sample_mixpanel(app) as base_url: ...                                          # loopback socket
"""

from .app import TRUNCATION_LINE, Fault, SampleMixpanelApp
from .files import write_export_files
from .scenario import Scenario, ScenarioError, load_scenario
from .server import serve_sample_mixpanel
from .simulator import Simulator

__all__ = [
    "TRUNCATION_LINE",
    "Fault",
    "SampleMixpanelApp",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "load_scenario",
    "serve_sample_mixpanel",
    "write_export_files",
]

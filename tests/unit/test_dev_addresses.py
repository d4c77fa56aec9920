"""What `billflow dev` prints: every address an operator needs, metrics included."""

from __future__ import annotations

from pathlib import Path

from billflow.config import Settings
from starter.devstack import DevStack


def test_dev_prints_the_api_and_worker_metrics_addresses(tmp_path: Path) -> None:
    settings = Settings(environment="test", api_port=8123, metrics_port=9500, stripe_api_base=None)
    shown = DevStack(settings, state_dir=tmp_path).addresses()
    assert ("API metrics", f"http://{settings.api_host}:8123/metrics") in shown
    assert ("worker metrics", "http://127.0.0.1:9500/metrics (Temporal SDK)") in shown
    assert ("", "http://127.0.0.1:9501/metrics (billflow's own)") in shown  # printed under it


def test_without_worker_metrics_only_the_api_metrics_are_shown(tmp_path: Path) -> None:
    shown = dict(DevStack(Settings(environment="test", metrics_port=0), state_dir=tmp_path).addresses())
    assert "API metrics" in shown and "worker metrics" not in shown

"""Deterministic ids, settings validation and secrets at rest."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from billflow.config import Settings
from billflow.crypto import SecretBox, mask
from billflow.idempotency import stripe_key, workflow_id
from billflow.policies import MERCHANT_NOTIFY


def test_stripe_key_is_deterministic_and_step_scoped() -> None:
    wid = workflow_id("payment", "mer_1", "order-42")
    assert wid == "payment/mer_1/order-42"
    assert stripe_key(wid, "create_intent") == stripe_key(wid, "create_intent")
    assert stripe_key(wid, "create_intent") != stripe_key(wid, "capture")
    assert stripe_key(wid, "renew", 1) != stripe_key(wid, "renew", 2)
    assert stripe_key(wid, "renew", 0) != stripe_key(wid, "renew")
    assert len(stripe_key("x" * 1000, "s")) <= 255
    assert "mer_1" not in stripe_key(wid, "create_intent")


def test_bad_settings_fail_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from billflow.config import load_settings; load_settings()"],
        env={"BILLFLOW_API_PORT": "not-a-port", "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "billflow: invalid settings: BILLFLOW_API_PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_production_refuses_dev_secrets() -> None:
    with pytest.raises(ValidationError, match="ENCRYPTION_KEY"):
        Settings(environment="production")
    Settings(environment="production", encryption_key=Fernet.generate_key().decode())


def test_database_url_must_be_known() -> None:
    with pytest.raises(ValidationError, match="sqlite"):
        Settings(database_url="mysql://x")
    assert Settings(database_url="postgresql://u@h/db").sqlalchemy_url == "postgresql+psycopg://u@h/db"


def test_secret_box_round_trip_and_mask() -> None:
    box = SecretBox(Fernet.generate_key().decode())
    token = box.encrypt("sk_test_abcdef123456")
    assert "sk_test" not in token
    assert box.decrypt(token) == "sk_test_abcdef123456"
    assert mask("sk_test_abcdef123456") == "sk_test_…3456"
    with pytest.raises(ValueError, match="decrypted"):
        SecretBox(Fernet.generate_key().decode()).decrypt(token)


def test_unset_retry_settings_keep_the_production_schedule() -> None:
    """Notifications' retry intervals come from the settings only when set (a test stack's)."""
    assert Settings().notify_retry_initial_seconds is None
    assert MERCHANT_NOTIFY.with_retry_intervals(None, None) == MERCHANT_NOTIFY
    shorter = MERCHANT_NOTIFY.with_retry_intervals(1, 5)
    assert shorter.retry.initial_interval == timedelta(seconds=1)
    assert shorter.retry.maximum_interval == timedelta(seconds=5)
    assert shorter.retry.backoff_coefficient == MERCHANT_NOTIFY.retry.backoff_coefficient
    assert shorter.schedule_to_close == MERCHANT_NOTIFY.schedule_to_close
    # Temporal refuses a longest interval below the first one: it is raised to the first.
    assert MERCHANT_NOTIFY.with_retry_intervals(30, None).retry.maximum_interval == timedelta(hours=1)
    assert MERCHANT_NOTIFY.with_retry_intervals(30, 5).retry.maximum_interval == timedelta(seconds=30)

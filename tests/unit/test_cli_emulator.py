"""`billflow emulator` hands its options to the emulator's own command line."""

from __future__ import annotations

from typer.testing import CliRunner

from starter.cli import app


def test_billflow_emulator_takes_the_emulator_options() -> None:
    result = CliRunner().invoke(app, ["emulator", "--help"])
    assert result.exit_code == 0
    assert "--state-file" in result.output and "--port" in result.output


def test_billflow_emulator_rejects_unknown_options_in_one_line() -> None:
    result = CliRunner().invoke(app, ["emulator", "--no-such-option"])
    assert result.exit_code == 2
    assert "unrecognized arguments: --no-such-option" in result.output

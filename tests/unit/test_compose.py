"""docker-compose.yml cannot run here, so read it against the code: commands, settings, ports."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer
import yaml

from billflow.config import Settings
from starter.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def _billflow_argvs() -> list[list[str]]:
    argvs = []
    for svc in SERVICES.values():
        command = svc.get("command") or []
        if command[:2] == ["sh", "-c"]:
            argvs += [part.split() for part in command[2].split("&&")]
        else:
            argvs.append(command)
    return [argv for argv in argvs if argv and argv[0] == "billflow"]


def test_every_billflow_command_exists_with_its_options() -> None:
    root: Any = typer.main.get_command(app)  # typer ships its own click; stay duck-typed
    argvs = _billflow_argvs()
    assert {" ".join(a[:2]) for a in argvs} >= {"billflow worker", "billflow db", "billflow temporal"}
    for argv in argvs:
        ctx = root.make_context("billflow", ["--help"], resilient_parsing=True)
        cmd: Any = root
        args = argv[1:]
        while hasattr(cmd, "get_command"):
            sub = cmd.get_command(ctx, args[0])
            assert sub is not None, f"unknown command in compose: {' '.join(argv)}"
            cmd, args = sub, args[1:]
        # parse the remaining options exactly as the CLI would
        cmd.make_context(cmd.name, list(args), parent=ctx)


def test_every_setting_name_is_a_real_setting() -> None:
    fields = {f"BILLFLOW_{name.upper()}" for name in Settings.model_fields}
    env_names = set(COMPOSE["x-billflow-env"])
    assert env_names <= fields, env_names - fields
    for name in ("api", "worker", "setup", "codec"):
        assert SERVICES[name]["environment"] == COMPOSE["x-billflow-env"]


def test_api_target_and_ports_match_the_code() -> None:
    command = SERVICES["api"]["command"]
    module, attr = command[command.index("uvicorn") + 1].split(":")
    assert hasattr(importlib.import_module(module), attr)
    port = command[command.index("--port") + 1]
    assert f"{port}:{port}" in SERVICES["api"]["ports"]
    assert int(port) == Settings.model_fields["api_port"].default
    host, temporal_port = COMPOSE["x-billflow-env"]["BILLFLOW_TEMPORAL_ADDRESS"].split(":")
    assert host in SERVICES and f"{temporal_port}:{temporal_port}" in SERVICES[host]["ports"]
    ui_port = Settings.model_fields["temporal_ui_port"].default
    assert f"{ui_port}:8080" in SERVICES["temporal-ui"]["ports"]
    codec_port = SERVICES["codec"]["command"][SERVICES["codec"]["command"].index("--port") + 1]
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith(f":{codec_port}")


def test_database_url_points_at_the_compose_postgres() -> None:
    url = COMPOSE["x-billflow-env"]["BILLFLOW_DATABASE_URL"]
    pg = SERVICES["postgresql"]["environment"]
    assert (
        url
        == f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgresql:5432/{pg['POSTGRES_DB']}"
    )
    Settings(database_url=url)  # the settings accept it
    temporal = SERVICES["temporal"]["environment"]
    assert temporal["POSTGRES_SEEDS"] == "postgresql" and temporal["POSTGRES_USER"] == pg["POSTGRES_USER"]


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("billflow", "workflows", "activities", "starter", "stripe_emulator", "migrations"):
        assert f"COPY {package} {package}" in dockerfile
    assert "alembic.ini" in dockerfile and "worker.py" in dockerfile

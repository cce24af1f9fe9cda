"""The project's own promises: README commands, CI, lint and types."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv[^\n]*)\n```", README)


def test_readme_quick_start_has_exactly_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("pardot-sync demo")
    assert commands[1].endswith("python -m pytest -q")


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


def test_every_config_key_of_the_source_is_documented() -> None:
    import inspect

    from sources.pardot import PardotCredentials, pardot_source

    internal = {"http", "now", "report", "progress", "credentials"}  # objects, not config
    for key in inspect.signature(pardot_source).parameters:
        if key not in internal:
            assert f"| `{key}` |" in README, key
    for key in PardotCredentials.__annotations__:
        assert f"`{key}`" in README, key


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", "."], id="ruff"),
        pytest.param(["ruff", "format", "--check", "."], id="ruff-format"),
        pytest.param(["mypy", "sources", "pipelines"], id="mypy"),
    ],
)
def test_code_is_clean(command: list[str]) -> None:
    tool = Path(sys.executable).parent / command[0]
    result = subprocess.run(
        [str(tool), *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_s_summary_line_has_every_field_of_the_summary() -> None:
    import json
    from dataclasses import fields

    from pipelines.runner import RunSummary

    (line,) = re.findall(r"```json\n(\{.*\})\n```", README)
    assert set(json.loads(line)) == {f.name for f in fields(RunSummary)}

"""The public surface of ``sources.pardot``, pinned: what the pipelines may rely on.

Like httpx's own test of ``__all__``: a name added to or dropped from the package's
surface is a decision, made here on purpose, not a side effect of an import. The
pipelines and benchmarks reach the connector only through that surface.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import fields
from pathlib import Path

import sources.pardot
from sources.pardot import pardot_source
from sources.pardot.config import DEFAULTS, SyncSettings

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = {
    "DEFAULT_CHECKPOINT_EVERY",
    "PARDOT_TIMESTAMP_FORMAT",
    "SOURCE_NAME",
    "TABLES_BY_NAME",
    "AuthenticationError",
    "ConfigurationError",
    "DailyLimitError",
    "PardotCredentials",
    "PardotError",
    "SyncReport",
    "SyncState",
    "pardot_source",
    "run_checkpointed",
    "sync_state",
}


def test_all_is_pinned_and_every_name_exists() -> None:
    assert set(sources.pardot.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(sources.pardot, name), name


def _imports_from_connector(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sources.pardot"):
            if not (node.module or "").startswith("sources.pardot_emulator"):
                found.append((node.module or "", [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sources.pardot."):
                    found.append((alias.name, []))
    return found


def test_pipelines_and_benchmarks_use_only_the_public_surface() -> None:
    offenders = []
    for folder in ("pipelines", "benchmarks"):
        for path in sorted((ROOT / folder).glob("*.py")):
            for module, names in _imports_from_connector(path):
                if module != "sources.pardot" or not set(names) <= PUBLIC:
                    offenders.append(f"{path.relative_to(ROOT)}: from {module} import {names}")
    assert not offenders, "import these from sources.pardot (and list them in __all__):\n" + (
        "\n".join(offenders)
    )


def test_each_sync_setting_default_is_declared_once() -> None:
    """``pardot_source`` offers dlt exactly the defaults ``SyncSettings`` declares."""
    signature = inspect.signature(pardot_source.__wrapped__)  # type: ignore[attr-defined]
    for spec in fields(SyncSettings):
        if spec.name in signature.parameters:
            assert signature.parameters[spec.name].default == getattr(DEFAULTS, spec.name)
    assert SyncSettings.from_values() == DEFAULTS

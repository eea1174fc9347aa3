"""Paths and readers for the EQL tests' data: the project's own and the shared reference data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

# Elastic's prebuilt rules and labelled cases live in the 'shared' folder beside
# the repository, where CI places it. They are other projects' files, so they
# are read from there and never copied into this repository.
SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read one JSON object per non-empty line."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

"""Fixtures for the EQL tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from testdata import SHARED_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared reference data folder; tests that need it skip when it is absent."""
    if not (SHARED_DIR / "data" / "elastic-rules").is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DIR} (it sits beside the repository in CI)")
    return SHARED_DIR

"""Paths and shared helpers of the deployment tests.

Importing this module puts tests/service on sys.path, so that its helper module
kafka_io imports by name. Tests import from here rather than from conftest,
because several folders of the suite contain a conftest module.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]
REPOSITORY = TESTS_DIR.parent
DEPLOY_DIR = REPOSITORY / "deploy"
SERVICE_TESTS_DIR = TESTS_DIR / "service"
SAMPLE_EVENTS = DEPLOY_DIR / "sample-events.jsonl"
INSTALL_HINT = (
    "install Debian's prometheus package (make deploy-tools, or apt-get update && apt-get install -y prometheus)"
)

if str(SERVICE_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(SERVICE_TESTS_DIR))

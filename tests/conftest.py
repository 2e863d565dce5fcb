"""Suite-wide setup: the Hub client must never reach the internet nor read a developer's own token."""

from __future__ import annotations

import os
import tempfile

# huggingface_hub reads these at import time, so they are set before any test module imports it.
_HF_HOME = tempfile.mkdtemp(prefix="hubgate-tests-hf-home-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# Calls that ignore `endpoint=` (the daily agent-harness probe) go to a closed loopback port.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_XET", "HUBGATE_CONFIG"):
    os.environ.pop(_name, None)

# Session-wide real servers (started on first use only): SeaweedFS for S3, a throwaway PostgreSQL cluster.
from tests.pg import postgres  # noqa: E402
from tests.storage.seaweed import seaweedfs  # noqa: E402

__all__ = ["postgres", "seaweedfs"]

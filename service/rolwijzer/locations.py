"""Where the repository keeps what the server and the CLI find by default, without importing either."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_RULES"]

# The rules folder of this checkout (service/rolwijzer/locations.py -> the repository's rules/).
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "rules"

"""Sample events live as files in events/<function>/ and are loaded, never written inline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(function_folder: str, name: str) -> Any:
    return json.loads((EVENTS / function_folder / name).read_text())


def event_files(function_folder: str) -> list[Path]:
    return sorted((EVENTS / function_folder).glob("*.json"))

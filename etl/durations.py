"""Durations as people write them in YAML ("250ms", "15s", "2m"), as seconds for the code.

A bare number, or a string holding only a number, is seconds: values interpolated from the environment
arrive as strings, and `timeout: ${TIMEOUT:-15}` should mean what it says.
"""

from __future__ import annotations

import math
import re
from typing import Any

_EXPECTED = "expected e.g. 250ms, 15s, 2m, 1h or a number of seconds"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$"
_DURATION = re.compile(_PATTERN)

DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": _PATTERN},
    ],
    "x-message": "expected a duration such as 250ms, 15s, 2m, 1h or a number of seconds",
    "description": "A duration: a number of seconds, or a string with a unit: 250ms, 1.5s, 2m, 1h.",
}


def parse_duration(value: Any) -> float:
    """Seconds in `value`; ValueError names the value and the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {_EXPECTED}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid duration {value!r}: must be a finite number of seconds >= 0")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"invalid duration {value!r}: {_EXPECTED}")

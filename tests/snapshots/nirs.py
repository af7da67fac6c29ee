"""NIR test data computed from `region-input.md` alone, never by `snapshots/nir.py`."""

from __future__ import annotations

# Positions 4-5: 01-12, 20, 30-42, 50-99.
SPEC_MONTHS = frozenset({*range(1, 13), 20, *range(30, 43), *range(50, 100)})


def with_key(body: str) -> str:
    """`body` + 97 - (N mod 97) on two digits, N the body read with 2A → 19 and 2B → 18."""
    number = int(body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7]) + body[7:])
    return f"{body}{97 - number % 97:02d}"

"""The orientation API's answers are serialised by pydantic-core: the same bytes as
Starlette's `JSONResponse` would send, non-ASCII text and nulls included."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from agora_bridge.api.ouiform_vues import Answer


def test_the_answer_bytes_are_starlettes() -> None:
    body: dict[str, Any] = {
        "items": [
            {
                "id": "0b9a…",
                "candidat": {"nom": "Lefèvre", "prenom": "Zoë", "email": None, "n": 3},
                "historique": [{"statut": "PRESCRITE", "le": "2026-11-27T10:00:00+00:00"}],
                "guillemets": 'un "mot" \\ et \u2028 une fin de ligne\n',
            }
        ],
        "next_cursor": None,
    }
    assert Answer(body).body == JSONResponse(body).body

"""Codes that carry their own explanation: the reasons the reports count, and the annex's
documents (`agora-bridge doc-mapping`) print with the sentence that explains them."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Motif(StrEnum):
    """A code and its meaning, in French: the annex the Région hands the DGEFP and the CDC is.

    The code is the value, the string the bridge stores and counts (callers store `.value`, a
    plain `str`); a member is written `NAME = "CODE", "description"`. Look a member up by
    name (`Retenue["RETOUR_ARRIERE"]`): mypy reads `Retenue("…")` as the two-argument
    constructor.
    """

    description: str

    def __new__(cls, code: str, description: str) -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.description = description
        return member

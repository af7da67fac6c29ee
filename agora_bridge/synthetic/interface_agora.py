"""The "Interface AGORA" attribute on its three objects, as the Région's system sets it.

The Région sets the attribute on a whole dispositif first (`DISPOSITIF_INTERFACE_AGORA`: the
same value for every programme of it); some consultations and programmes then confirm it or
override it. The programme's key is always exported, often null; the consultation's and the
dispositif's are left out by older exports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agora_bridge.synthetic.reference import DISPOSITIF_INTERFACE_AGORA

PROGRAMME = "interface_agora"
CONSULTATION = "interface_agora_consultation"
DISPOSITIF = "interface_agora_dispositif"

CONFIRMED_ON_PROGRAMME = 0.35  # the programme repeats what it inherits
SET_ON_CONSULTATION = 0.25  # among programmes with a consultation
OVERRIDDEN_ON_CONSULTATION = 0.3  # when an override is needed and a consultation exists
OLDER_EXPORT = 0.15  # the two optional keys left out (only when they hold nothing)


def interface_agora_levels(
    r: Callable[[], float], *, on: bool, dispositif: str, consultation: str | None
) -> dict[str, bool | None]:
    """The three levels of one programme, such that the decided attribute is `on`."""
    by_dispositif = DISPOSITIF_INTERFACE_AGORA.get(dispositif)
    by_consultation = on if consultation is not None and r() < SET_ON_CONSULTATION else None
    inherited = by_consultation if by_consultation is not None else by_dispositif
    by_programme = on if r() < CONFIRMED_ON_PROGRAMME else None
    if bool(inherited) != on and by_programme is None:
        # What the programme inherits is wrong for it: the Région overrides it lower down.
        if consultation is not None and r() < OVERRIDDEN_ON_CONSULTATION:
            by_consultation = on
        else:
            by_programme = on
    if by_consultation is None and by_dispositif is None and r() < OLDER_EXPORT:
        return {PROGRAMME: by_programme}
    return {PROGRAMME: by_programme, CONSULTATION: by_consultation, DISPOSITIF: by_dispositif}


def set_interface_agora(programme: dict[str, Any], r: Callable[[], float], *, on: bool) -> None:
    """Replace the levels of a (copied) programme so that the decided attribute is `on`."""
    for key in (PROGRAMME, CONSULTATION, DISPOSITIF):
        programme.pop(key, None)
    programme.update(
        interface_agora_levels(
            r, on=on, dispositif=programme["dispositif"], consultation=programme["consultation"]
        )
    )

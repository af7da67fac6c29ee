"""SIRET checksum: Luhn over the 14 digits, with La Poste's documented exception."""

_LA_POSTE_SIREN = "356000000"
_LA_POSTE_HEAD_OFFICE = "35600000000048"


def luhn_sum(digits: str) -> int:
    """The Luhn sum: every second digit from the right doubled (minus 9 past 9)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total


def is_valid_siret(siret: str) -> bool:
    if len(siret) != 14 or not siret.isascii() or not siret.isdigit():
        return False
    # La Poste numbers its thousands of establishments under one SIREN beyond what Luhn
    # allows: INSEE checks them by a plain digit sum that must be a multiple of 5.
    if siret.startswith(_LA_POSTE_SIREN) and siret != _LA_POSTE_HEAD_OFFICE:
        return sum(int(c) for c in siret) % 5 == 0
    return luhn_sum(siret) % 10 == 0

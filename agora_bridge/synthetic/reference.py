"""Reference data of the synthetic snapshots: names, places, motives, the training catalogue."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def pick(r: Callable[[], float], items: tuple[T, ...]) -> T:
    return items[int(r() * len(items))]


PRENOMS = {
    "M": ("Lucas", "Hugo", "Noël", "Loïc", "Jérôme", "François", "Gaël", "Benoît", "Mohamed",
          "Yanis", "Kevin", "Thomas", "Jean-Noël", "Anh"),
    "F": ("Éloïse", "Chloé", "Anaïs", "Hélène", "Zoé", "Maëlle", "Léa", "Inès", "Camille",
          "Fatoumata", "Marie-Thérèse", "Océane", "Sarah", "Aurélie"),
}  # fmt: skip
NOMS = ("Martin", "Bernard", "Dubois", "D'Arc-Dupont", "Lefèvre", "Le Goff", "Guérin",
         "Nguyen", "Müller", "Moreau", "Hervé", "Bréhéret", "Da Silva", "Ménard", "Traoré",
         "Pétillon-Chaillou", "Ouédraogo", "Rousseau", "Le Bihan", "Giraud")  # fmt: skip
NIVEAUX = ("3", "3", "4", "4", "4", "5", "5", "6", "2", "7", "1", "8",
            "V", "V", "IV", "IV", "VI", "Vbis", "III")  # fmt: skip
# Metropolitan departments, the Région's own weighted up (people train near where they live).
DEPARTEMENTS_NAISSANCE = ("44", "44", "49", "49", "53", "72", "85", "75", "35", "56", "29",
                           "37", "79", "17", "33", "69", "13", "59", "93", "14")  # fmt: skip
PAYS = ("350", "352", "351", "139", "134", "127", "109", "341", "243", "406")  # INSEE 99xxx
DEPARTEMENTS_SESSION = ("44", "44", "44", "49", "49", "53", "72", "72", "85")
MOTIFS_SORTIE = ("FIN_FORMATION",) * 6 + (
    "ABANDON", "ABANDON", "ACCES_EMPLOI", "EXCLUSION", "INTERRUPTION_ORGANISME", "FORCE_MAJEURE"
)  # fmt: skip
MOTIFS_ANNULATION = ("DESISTEMENT", "DESISTEMENT", "ERREUR_SAISIE", "SESSION_ANNULEE", "AUTRE")
STATUTS = ("VALIDE", "ENTRE", "ENTRE", "SORTI", "SORTI", "SOLDE", "SOLDE", "SOLDE", "SOLDE",
            "ANNULE")  # fmt: skip

DISPOSITIFS = {
    "QUALIFIANT": ("VISA_METIERS", "VISA_METIERS", "VISA_METIERS_PLUS", "ACCES_EMPLOI",
                   "ACCES_EVOLUTION"),
    "PREPARATOIRE": ("PREPA_AVENIR", "PREPA_CLES"),
}  # fmt: skip
# "Interface AGORA" as the Région sets it on each dispositif (None: not set there, its
# programmes and consultations decide). ACCES_EVOLUTION is out unless a programme opts in;
# VISA_SANITAIRE_SOCIAL is flagged although its category is excluded: a reported anomaly.
DISPOSITIF_INTERFACE_AGORA: dict[str, bool | None] = {
    "VISA_METIERS": True, "VISA_METIERS_PLUS": True, "ACCES_EMPLOI": True,
    "ACCES_EVOLUTION": False, "PREPA_AVENIR": None, "PREPA_CLES": True,
    "VISA_SANITAIRE_SOCIAL": True, "PSAD": None, "FORMATION_DETENUS": None,
    "REMUNERATION_CRP": False, "AIDE_INDIVIDUELLE_FORMATION": None, "VAE_REGION": False,
}  # fmt: skip
EXCLUDED_PROGRAMMES = (
    ("VISA_SANITAIRE_SOCIAL", "SANITAIRE_SOCIAL"), ("VISA_SANITAIRE_SOCIAL", "SANITAIRE_SOCIAL"),
    ("PSAD", "PSAD"), ("FORMATION_DETENUS", "DETENUS"), ("REMUNERATION_CRP", "REMUNERATION_CRP"),
    ("AIDE_INDIVIDUELLE_FORMATION", "AIDE_INDIVIDUELLE"), ("VAE_REGION", "VAE"),
)  # fmt: skip
# (intitulé, formacode, certification, categorie, hours, calendar days)
CATALOGUE: tuple[tuple[str, str | None, tuple[str, str] | None, str, float, int], ...] = (
    ("Agent de propreté et d'hygiène", "42052", ("RNCP", "RNCP34172"), "QUALIFIANT", 805, 150),
    ("Cuisinier", "42752", ("RNCP", "RNCP34772"), "QUALIFIANT", 1050, 240),
    ("Assistant de vie aux familles", "44028", ("RNCP", "RNCP35507"), "QUALIFIANT", 812.5, 180),
    ("Soudeur TIG électrode enrobée", "23054", ("RNCP", "RNCP35398"), "QUALIFIANT", 910, 200),
    ("Technicien d'assistance en informatique", "24231", ("RNCP", "RNCP34726"), "QUALIFIANT",
     1190, 300),
    ("Préparateur de commandes en entrepôt", "31811", ("RNCP", "RNCP36026"), "QUALIFIANT", 399,
     90),
    ("Développeur web et web mobile", "31054", ("RNCP", "RNCP31114"), "QUALIFIANT", 1127.5, 330),
    ("Maçon du bâti ancien", "22454", ("RNCP", "RNCP38213"), "QUALIFIANT", 980, 230),
    ("Habilitation électrique B1V-BR", "24054", ("CERTIFINFO", "85123"), "QUALIFIANT", 35, 7),
    ("Conduite de chariots élévateurs", "31812", ("RS", "RS5226"), "QUALIFIANT", 70, 14),
    ("Français langue étrangère", "15235", ("RS", "RS5810"), "PREPARATOIRE", 300, 120),
    ("Savoirs de base – Prépa Clés", "15040", None, "PREPARATOIRE", 250, 100),
    ("Remise à niveau – Prépa Avenir", None, None, "PREPARATOIRE", 420.25, 140),
    ("Découverte des métiers du numérique", "15030", None, "PREPARATOIRE", 175, 60),
)  # fmt: skip
ORGANISMES = ("AFPA Pays de la Loire", "GRETA-CFA Loire-Atlantique", "CCI Formation 49",
               "Institut de formation de l'Erdre", "Les Compagnons du Devoir", "CEFRAS",
               "Maison Familiale Rurale de Challans", "IFOCOTEP", "Retravailler Ouest",
               "CNAM Pays de la Loire", "ENI École Informatique", "AFODIL")  # fmt: skip

"""Typed builders of AGORA bodies and canned AGORA answers for the client tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import respx
from pydantic import SecretStr

from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.schemas import (
    Action,
    Certification,
    Creation,
    Entree,
    LigneLot,
    Organisme,
    Session,
    Solde,
    Sortie,
    Titulaire,
)
from agora_bridge.settings import AgoraSettings

BASE_URL = "https://agora.test/agora/v2"
NIR = "1850578006084"
ID_AGORA = "AG000000000042"
ID_LOT = "LT000000000007"
PROBLEM_JSON = {"Content-Type": "application/problem+json"}


def titulaire() -> Titulaire:
    return Titulaire(
        nir=NIR,
        nom_naissance="DUPONT",
        prenom="JEAN",
        date_naissance=date(1985, 5, 12),
        sexe="M",
    )


def creation(reference: str = "PDL-2019-0001234") -> Creation:
    return Creation(
        reference_financeur=reference,
        code_financeur="REG52",
        dispositif="VISA_METIERS",
        titulaire=titulaire(),
        niveau_entree="3",
        organisme=Organisme(siret="73282932000074"),
        action=Action(
            numero="20_1262663",
            formacode="31812",
            certification=Certification(type="RNCP", code="RNCP35000"),
        ),
        session=Session(
            numero="1330305",
            date_debut=date(2019, 3, 4),
            date_fin=date(2019, 9, 27),
            duree_heures=Decimal("840"),
        ),
        date_validation=date(2019, 2, 20),
    )


def solde() -> Solde:
    return Solde(
        date_solde=date(2019, 10, 15),
        heures_realisees_centre=Decimal("812.50"),
        heures_realisees_entreprise=Decimal("0"),
        taux_realisation=96,
        taux_horaire_cents=1150,
        cout_pedagogique_cents=934375,
    )


def ligne_lot(reference: str = "PDL-2019-0001234") -> LigneLot:
    return LigneLot(
        **dict(creation(reference)),
        entree=Entree(date_entree=date(2019, 3, 4)),
        sortie=Sortie(date_sortie=date(2019, 9, 27), motif_sortie="FIN_FORMATION"),
        solde=solde(),
    )


def dossier_json(statut: str = "ENTRE", **extra: Any) -> dict[str, Any]:
    """A dossier as AGORA's `GET` returns it."""
    body = creation().model_dump(mode="json")
    return {
        **body,
        "id_agora": ID_AGORA,
        "statut": statut,
        "entree": {"date_entree": "2019-03-04"},
        "historique": [
            {
                "operation": "CREATION",
                "horodatage": "2019-02-20T10:00:00+01:00",
                "request_id": "0b6f4a9e-1111-4f1e-9c1e-3b6f1d2a7c00",
            }
        ],
        **extra,
    }


def problem(
    status: int, code: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    """An RFC 9457 error as AGORA sends it."""
    body = {
        "type": f"https://agora.test/problemes/{code.lower()}",
        "title": code,
        "status": status,
        "code": code,
        "detail": f"{code} ({NIR})",  # AGORA's wording may quote what was sent
        "erreurs": [],
        **extra,
    }
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={**PROBLEM_JSON, **(headers or {})}
    )


def token_response(token: str = "jeton-1", expires_in: int = 600) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    )


def agora_settings(**overrides: Any) -> AgoraSettings:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "client_id": "bridge",
        "client_secret": SecretStr("secret-de-test"),
        "max_rps": 0,  # no client-side rate limit unless a test asks for one
        **overrides,
    }
    return AgoraSettings(**values)


@dataclass
class Agora:
    """A client wired to a respx router (unmatched requests fail) and a sleep that records
    the delays instead of waiting them."""

    router: respx.Router
    client: AgoraClient
    token: respx.Route
    sleeps: list[float]


def make_agora(*, clock: Callable[[], float] = time.monotonic, **overrides: Any) -> Agora:
    """The client under test (use it as `async with agora.client:`); `overrides` are
    settings."""
    router = respx.Router(base_url=BASE_URL, assert_all_mocked=True, assert_all_called=False)
    token = router.post("/oauth/token").mock(return_value=token_response())
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = AgoraClient(
        agora_settings(**overrides),
        transport=httpx.MockTransport(router.async_handler),
        sleep=sleep,
        clock=clock,
    )
    return Agora(router=router, client=client, token=token, sleeps=sleeps)


def request_ids(route: respx.Route) -> list[str]:
    return [call.request.headers["X-Request-Id"] for call in route.calls]

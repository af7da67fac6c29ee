"""Every error of the HTTP API as RFC 9457 problem details (`application/problem+json`).

One application error base (`ApiProblem`), rendered by one handler; FastAPI's validation
errors and Starlette's 404/405 go through the same shape. No problem ever repeats a value the
caller sent: a request body may hold a NIR or a name, so validation errors name the field and
the rule only.
"""

from __future__ import annotations

import http
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from agora_bridge.logs import get_logger
from agora_bridge.serving import allowed_methods

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:agora-bridge:problem:"

log = get_logger(__name__)

# Problems Starlette or FastAPI raise themselves, by status.
_FRAMEWORK_CODES = {
    400: "REQUETE_INVALIDE",
    404: "RESSOURCE_INCONNUE",
    405: "METHODE_NON_AUTORISEE",
    413: "CORPS_TROP_VOLUMINEUX",
    415: "TYPE_NON_SUPPORTE",
    422: "REQUETE_INVALIDE",
}


class ChampErreur(BaseModel):
    """One broken rule: the field and the rule, never the value."""

    champ: str
    code: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the bridge's extensions (`code`, `request_id`, …)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str
    request_id: str | None = None
    erreurs: list[ChampErreur] | None = None


class ApiProblem(StarletteHTTPException):
    """The application's error base: a status, a stable `code`, a sentence (no input value).

    A Starlette HTTPException so that FastAPI lets it through while it reads a body (the
    body cap raises while the body is read)."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "ERREUR_INTERNE"
    title: ClassVar[str] = "Erreur interne"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(self.status, detail or self.title, headers)
        self.extensions = extensions


class Unauthenticated(ApiProblem):
    status, code, title = 401, "CLE_API_INVALIDE", "Clé d'API absente, inconnue ou révoquée"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiProblem):
    status, code, title = 403, "ROLE_NON_AUTORISE", "Rôle non autorisé sur cette route"


class BodyTooLarge(ApiProblem):
    status, code, title = 413, "CORPS_TROP_VOLUMINEUX", "Corps de requête trop volumineux"


class DatabaseUnavailable(ApiProblem):
    status, code, title = 503, "BASE_INDISPONIBLE", "Base de données indisponible"

    def __init__(self, detail: str) -> None:
        # Worth retrying: a database restart or failover takes seconds.
        super().__init__(detail, headers={"Retry-After": "5"})


class NotReady(ApiProblem):
    status, code, title = 503, "NON_PRET", "Service non prêt"


class NotFound(ApiProblem):
    status, code, title = 404, "RESSOURCE_INCONNUE", "Ressource inconnue"


class PreconditionFailed(ApiProblem):
    status, code, title = 412, "VERSION_PERIMEE", "La version attendue n'est plus la courante"


class Invalid(ApiProblem):
    """422 naming each broken rule: `erreurs` of `{champ, code}`, never a value."""

    status, code, title = 422, "REQUETE_INVALIDE", "Requête invalide"

    def __init__(self, erreurs: list[dict[str, str]]) -> None:
        super().__init__("the request breaks the rules listed in erreurs", erreurs=erreurs)


class KeyAlreadyUsed(Invalid):
    code, title = (
        "CLE_IDEMPOTENCE_REUTILISEE",
        "Clé d'idempotence déjà utilisée pour un autre corps",
    )


class Conflict(ApiProblem):
    status, code, title = 409, "TRANSITION_IMPOSSIBLE", "Transition impossible depuis cet état"


class MissingHeader(ApiProblem):
    status, code, title = 400, "EN_TETE_REQUIS", "En-tête requis absent"


def field_errors(
    errors: Iterable[Mapping[str, Any]], *, root: str = "body"
) -> list[dict[str, str]]:
    """pydantic's errors as `{champ, code}`: the field's path and the rule, never `input`."""
    return [
        {
            "champ": ".".join(str(part) for part in item["loc"]) or root,
            "code": str(item["type"]).upper(),
        }
        for item in errors
    ]


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None,
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = {
        "type": TYPE_PREFIX + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id_of(request),
        **extensions,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def request_id_of(request: Request | None) -> str | None:
    if request is None:
        return None
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def render(request: Request | None, error: StarletteHTTPException) -> Response:
    if isinstance(error, ApiProblem):
        return problem_response(
            status=error.status,
            code=error.code,
            title=error.title,
            detail=error.detail,
            request=request,
            headers=error.headers,
            **error.extensions,
        )
    status = error.status_code
    return problem_response(
        status=status,
        code=_FRAMEWORK_CODES.get(status, "ERREUR_HTTP"),
        title=http.HTTPStatus(status).phrase,
        detail=error.detail,
        request=request,
        headers=error.headers,
    )


def internal_error(request: Request | None) -> Response:
    return problem_response(
        status=500,
        code=ApiProblem.code,
        title=ApiProblem.title,
        detail="an unexpected error occurred; quote the request id to the operators",
        request=request,
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 405:
        allow = ", ".join(allowed_methods(request.app.router.routes, request.scope))
        error = StarletteHTTPException(405, error.detail, headers={"Allow": allow})
    return render(request, error)


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    erreurs = field_errors(error.errors())
    return problem_response(
        status=422,
        code="REQUETE_INVALIDE",
        title="Requête invalide",
        detail="the request breaks the rules listed in erreurs",
        request=request,
        erreurs=erreurs,
    )


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("http.request.failed", exc_info=error)
    return internal_error(request)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry of each status a route may answer with a problem."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            "description": http.HTTPStatus(status).phrase,
        }
        for status in statuses
    }

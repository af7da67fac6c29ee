"""The ops page (`GET /ops`) and its sign-in form, rendered here as HTML with inline SVG
charts: no script, no stylesheet or font fetched from anywhere (nothing leaves loopback).

Every value goes through `html.escape`; the page shows the ops status and nothing else, so
it holds dossier keys, orientation ids, codes and counts, never a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from agora_bridge.ops.status import OpsStatus
from agora_bridge.ops.throughput import Minute

REFRESH_S = 30
# The page's own headers: nothing but inline styles, no frame, never cached.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:.2em .6em;"
    "text-align:left}td.n{text-align:right}svg{background:#fafafa;border:1px solid #ddd}"
    ".legend span{margin-right:1.2em}.ok{color:#2a7d2a}.ko{color:#c0392b}.in{color:#2c5d9e}"
)
_WIDTH, _HEIGHT, _MARGIN = 720, 160, 30
GREEN, RED, BLUE, GREY = "#2a7d2a", "#c0392b", "#2c5d9e", "#8e8e8e"


def _document(title: str, body: str, *, head: str = "") -> str:
    return (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8">{head}'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def sign_in_page(*, error: str | None = None) -> str:
    message = f'<p class="ko">{escape(error)}</p>' if error else ""
    form = (
        '<form method="post" action="/ops/session">'
        '<label>Clé d\'API du rôle OPS <input type="password" name="cle" required '
        'autocomplete="off" size="60"></label> <button type="submit">Ouvrir</button></form>'
    )
    return _document("agora-bridge · ops", f"<h1>agora-bridge · ops</h1>{message}{form}")


def moving_on(target: str, title: str) -> str:
    """A page that sends the browser on at once (a `<meta>` refresh: no script), for the
    answers of the session's forms (a 200 with a link rather than a redirect)."""
    body = f'<h1>{escape(title)}</h1><p><a href="{escape(target)}">Continuer</a></p>'
    meta = f'<meta http-equiv="refresh" content="0; url={escape(target)}">'
    return _document(title, body, head=meta)


def ops_page(status: OpsStatus, *, signed_in: bool) -> str:
    sign_out = (
        '<form method="post" action="/ops/session/fin"><button>Fermer la session</button></form>'
        if signed_in
        else ""
    )
    sections = [
        f"<h1>agora-bridge · ops</h1><p>État au {escape(status.genere_at.isoformat())} "
        f"(rafraîchi toutes les {REFRESH_S} s)</p>{sign_out}",
        _throughput(status.debit),
        _backlog(status),
        _parked(status),
        _held(status),
        _agora(status),
        _reprise(status),
        _late(status),
        _ledger(status),
    ]
    # Reloads /ops itself (a GET), whatever the browser came from.
    refresh = f'<meta http-equiv="refresh" content="{REFRESH_S}; url=/ops">'
    return _document("agora-bridge · ops", "".join(sections), head=refresh)


def _throughput(series: Sequence[Minute]) -> str:
    calls = _bars(series, [("agora_reussites", GREEN), ("agora_echecs", RED)])
    inflow = _bars(series, [("recus", BLUE), ("lots_reprise", GREY)])
    return (
        "<h2>Appels AGORA par minute (dernière heure, UTC, d'après le registre)</h2>"
        '<p class="legend"><span class="ok">■ réussis</span><span class="ko">■ en échec '
        "(transitoire ou rejet)</span></p>"
        f"{calls}<h2>Entrées par minute</h2>"
        '<p class="legend"><span class="in">■ snapshots reçus</span>'
        "<span>■ lots de reprise traités</span></p>"
        f"{inflow}"
    )


def _bars(series: Sequence[Minute], stacks: list[tuple[str, str]]) -> str:
    """Stacked bars, one a minute, scaled to the busiest minute."""
    totals = [sum(getattr(m, name) for name, _ in stacks) for m in series]
    peak = max([*totals, 1])
    step = (_WIDTH - 2 * _MARGIN) / max(len(series), 1)
    rects = []
    for i, minute in enumerate(series):
        base = _HEIGHT - _MARGIN
        for name, colour in stacks:
            height = getattr(minute, name) / peak * (_HEIGHT - 2 * _MARGIN)
            base -= height
            rects.append(
                f'<rect x="{_MARGIN + i * step:.1f}" y="{base:.1f}" width="{step * 0.8:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>'
                f"{escape(minute.minute.strftime('%H:%M'))} {escape(name)}: "
                f"{getattr(minute, name)}</title></rect>"
            )
    first = series[0].minute.strftime("%H:%M") if series else ""
    last = series[-1].minute.strftime("%H:%M") if series else ""
    axis = (
        f'<text x="{_MARGIN}" y="{_HEIGHT - 8}" font-size="11">{escape(first)}</text>'
        f'<text x="{_WIDTH - _MARGIN}" y="{_HEIGHT - 8}" font-size="11" text-anchor="end">'
        f"{escape(last)}</text>"
        f'<text x="4" y="{_MARGIN - 8}" font-size="11">max {peak}/min</text>'
    )
    return _svg("".join(rects) + axis, _HEIGHT)


def _hbars(values: dict[str, int], colour: str) -> str:
    """Horizontal bars, one per key: the backlog as it is now."""
    if not values:
        return "<p>Aucun.</p>"
    peak = max([*values.values(), 1])
    row, label_w = 22, 200
    parts = []
    for i, (name, count) in enumerate(sorted(values.items())):
        width = count / peak * (_WIDTH - label_w - 80)
        y = 8 + i * row
        parts.append(
            f'<text x="4" y="{y + 14}" font-size="12">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="16" fill="{colour}"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 13}" font-size="12">{count}</text>'
        )
    return _svg("".join(parts), 16 + len(values) * row)


def _svg(content: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'role="img">{content}</svg>'
    )


def _backlog(status: OpsStatus) -> str:
    file = status.file
    age = file.plus_ancienne_attente_s
    return (
        "<h2>File de livraison (maintenant)</h2>"
        + _hbars(file.par_etat, BLUE)
        + _table(
            [
                ("À faire", file.a_faire),
                ("dont création (Creer)", file.a_faire_par_operation.get("Creer", 0)),
                ("dont modification", file.a_faire_par_operation.get("Modifier", 0)),
                ("Dues maintenant", file.dues_maintenant),
                ("Plus ancienne attente", "—" if age is None else f"{age:,.0f} s"),
            ]
        )
    )


def _parked(status: OpsStatus) -> str:
    rows = [
        (code, parked.nombre, ", ".join(parked.exemples)) for code, parked in status.parques.items()
    ]
    counts = {code: parked.nombre for code, parked in status.parques.items()}
    return (
        f"<h2>Opérations parquées ({status.parques_total})</h2>"
        + _hbars(counts, RED)
        + _table(rows, header=("code AGORA", "nombre", "exemples (id_dossier)"))
    )


def _held(status: OpsStatus) -> str:
    return (
        "<h2>Dossiers retenus</h2><p>Par le planificateur (livraisons)</p>"
        + _table(sorted(status.retenus.livraisons.items()), header=("motif", "nombre"))
        + "<p>Au classement des snapshots</p>"
        + _table(sorted(status.retenus.snapshots.items()), header=("motif", "nombre"))
    )


def _agora(status: OpsStatus) -> str:
    last = status.derniere_reussite_agora
    circuit = status.circuit
    return "<h2>AGORA</h2>" + _table(
        [
            ("Dernier appel réussi", last.isoformat() if last else "—"),
            ("Circuit", circuit.etat),
            ("Ouvertures du circuit", "—" if circuit.ouvertures is None else circuit.ouvertures),
        ]
    )


def _reprise(status: OpsStatus) -> str:
    reprise = status.reprise
    if reprise is None:
        return "<h2>Reprise d'antériorité</h2><p>Aucune reprise.</p>"
    report = reprise.rapport
    flat = [(k, v) for k, v in report.items() if not isinstance(v, dict)]
    nested = [(k, _inline(v)) for k, v in report.items() if isinstance(v, dict)]
    state = "terminée" if reprise.termine else "en cours"
    return (
        f"<h2>Reprise d'antériorité ({state})</h2>"
        + _table(
            [
                ("fichier", reprise.fichier),
                ("depuis", reprise.since_date.isoformat()),
                ("lignes lues", reprise.lignes_lues),
            ]
        )
        + _table([*flat, *nested], header=("compteur", "valeur"))
    )


def _late(status: OpsStatus) -> str:
    late = status.retards_entree
    rows = [(k, n, ", ".join(late.exemples.get(k, []))) for k, n in sorted(late.comptes.items())]
    return "<h2>Règle des 3 jours ouvrés (entrées déclarées)</h2>" + _table(
        rows, header=("écart", "nombre", "exemples (orientation)")
    )


def _ledger(status: OpsStatus) -> str:
    head = status.registre
    run = status.reconciliation
    rows: list[tuple[Any, ...]] = (
        [("tête (id)", head.id), ("hash", head.hash), ("à", head.recorded_at.isoformat())]
        if head
        else [("tête", "registre vide")]
    )
    reconciliation = _table(sorted(run.items())) if run else "<p>Aucune réconciliation.</p>"
    return (
        f"<h2>Registre d'audit</h2>{_table(rows)}<h2>Dernière réconciliation</h2>{reconciliation}"
    )


def _inline(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(values.items())) or "—"


def _table(rows: Iterable[tuple[Any, ...]], *, header: tuple[str, ...] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header) if header else ""
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{value:,}</td>'
            if isinstance(value, int) and not isinstance(value, bool)
            else f"<td>{escape(str(value))}</td>"
            for value in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"

"""`agora-bridge demo`: the whole flow on synthetic data, with no configuration.

generate → validate → backfill (the bundled AGORA mock in this process, on a free loopback
port) → a round of deltas through the sync engine → a summary. A SQLite file; NIRs, names and
birth dates encrypted at rest. With `--serve`, the API, its engine and the ops page then run
on a loopback port (with an OPS key printed to open the page) until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.api import create_app
from agora_bridge.backfill import report as backfill_report
from agora_bridge.backfill.lots import Pacing
from agora_bridge.backfill.run import Backfill, Options
from agora_bridge.cli.backfill import report_table
from agora_bridge.cli.import_file import summary_table
from agora_bridge.cli.serve import delivery, server_for
from agora_bridge.cli.validate import print_table
from agora_bridge.delivery.engine import Engine
from agora_bridge.logs import configure_logging
from agora_bridge.settings import DEMO_AGORA_CLIENT_ID, DEMO_AGORA_CLIENT_SECRET, Settings
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.preflight import preflight
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.storage.callers import NewOrganisation, Role, add_organisation, create_key
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.ingest import Ingestion, IngestReport, ingest_lines
from agora_bridge.storage.models import Livraison
from agora_bridge.synthetic import write_file
from agora_bridge.synthetic.histories import histories
from mocks import mock_in_thread

# The deltas' dossiers after the file's (their ids must not collide).
_DELTA_FIRST_INDEX = 9_000_000
LOOPBACK = "127.0.0.1"


def demo(
    dossiers: Annotated[int, typer.Option(min=1, help="Synthetic dossiers to generate")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data")] = 0,
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its files")] = Path(
        "agora-bridge-demo"
    ),
    serve: Annotated[
        bool, typer.Option(help="Then keep the API and the ops page running, until Ctrl-C")
    ] = False,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Loopback port of --serve (0: a free one)")
    ] = 0,
) -> None:
    """Run the flow end to end on synthetic dossiers: a SQLite file, no configuration."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "agora_bridge.db"
    log_file = (workdir / "demo.log").open("w", encoding="utf-8")
    with log_file, mock_in_thread(lot_delay_s=0.2) as mock:
        settings = _settings(database, mock.url)
        # The terminal shows the tables; the structured log goes to a file.
        configure_logging(level="DEBUG", fmt="json", stream=log_file)
        asyncio.run(_run(settings, workdir, database, dossiers=dossiers, seed=seed))
        Console().print(_agora_table(mock.url))
        Console().print(f"Log: {log_file.name}   Database: {database}")
        if serve:
            _serve(settings, port)


def _settings(database: Path, mock_url: str) -> Settings:
    return Settings(
        mode="demo",
        database_url=f"sqlite:///{database}",
        agora={
            "base_url": f"{mock_url}/agora/v2",
            "client_id": DEMO_AGORA_CLIENT_ID,
            "client_secret": DEMO_AGORA_CLIENT_SECRET,
            "max_rps": 0,
        },
    )


async def _run(
    settings: Settings, workdir: Path, database: Path, *, dossiers: int, seed: int
) -> None:
    console = Console()
    today = paris_today()
    source = workdir / "dossiers.jsonl"
    write_file(source, dossiers, seed=seed, today=today)
    console.print(f"[bold]1. Generated[/] {dossiers:,} synthetic snapshots in {source}")
    perimeter = Perimeter(settings.perimetre.categories_exclues)
    with preflight(source, today=today, since=settings.backfill.since, perimeter=perimeter) as r:
        console.print("[bold]2. Validated[/] (agora-bridge validate)")
        print_table(r, console)
    for stale in database.parent.glob(f"{database.name}*"):
        stale.unlink()  # each demo starts from an empty database
    engine = db.make_engine(settings.database_url)
    try:
        await db.upgrade(engine)
        sessions = db.make_sessionmaker(engine)
        crypto = NirCrypto.from_settings(settings)
        async with AgoraClient(settings.agora_access()) as client:
            console.print("[bold]3. Backfilled[/] through AGORA lots (agora-bridge backfill)")
            console.print(await _backfill(settings, sessions, client, crypto, source))
            console.print("[bold]4. Deltas[/] through the sync engine (agora-bridge sync)")
            console.print(
                await _deltas(settings, sessions, client, crypto, dossiers=dossiers, seed=seed)
            )
    finally:
        await engine.dispose()


async def _backfill(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    client: AgoraClient,
    crypto: NirCrypto,
    source: Path,
) -> Table:
    options = Options(
        since=settings.backfill.since,
        lot_size=settings.backfill.lot_size,
        code_financeur=settings.code_financeur,
        perimeter=Perimeter(settings.perimetre.categories_exclues),
        pacing=Pacing(poll_s=0.1, poll_max_s=0.5),
    )
    run = Backfill(
        sessions, client, crypto, options, today=paris_today(), clock=lambda: datetime.now(UTC)
    )
    progress = await run.run(source)
    async with sessions() as session:
        return report_table(await backfill_report.load(session, progress))


async def _deltas(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    client: AgoraClient,
    crypto: NirCrypto,
    *,
    dossiers: int,
    seed: int,
) -> Table:
    """New dossiers (a tenth of the file's), each version of their life in its own round, as
    the Région's system would send them: ingested as the API would, then the engine until
    nothing is due."""
    today = paris_today()
    count = max(1, dossiers // 10)
    lives = list(histories(count, seed=seed, today=today, first_index=_DELTA_FIRST_INDEX))
    perimeter = Perimeter(settings.perimetre.categories_exclues)
    engine = Engine(sessions, client, crypto, settings.sync, code_financeur=settings.code_financeur)
    report = IngestReport()
    for step in range(max(len(life) for life in lives)):
        versions = [life[step].encode() for life in lives if step < len(life)]
        ingestion = Ingestion(
            today=today, now=datetime.now(UTC), perimeter=perimeter, crypto=crypto
        )
        await ingest_lines(sessions, enumerate(versions, 1), ingestion, report=report)
        while await engine.run_once():
            pass
    versions_count = sum(len(life) for life in lives)
    table = summary_table(report)
    table.title = f"Deltas: {count:,} new dossiers, {versions_count:,} versions"
    async with sessions() as session:
        states = await session.execute(
            select(Livraison.etat, func.count()).group_by(Livraison.etat).order_by(Livraison.etat)
        )
        for etat, items in states:
            table.add_row(f"work items {etat}", f"{items:,}")
    return table


def _agora_table(mock_url: str) -> Table:
    """5. What AGORA (the mock) holds now, by state."""
    body = httpx.get(f"{mock_url}/__mock__/dossiers").content
    states = Counter(json.loads(line)["statut"] for line in body.splitlines() if line.strip())
    table = Table(title="5. On AGORA (the bundled mock)", show_header=False)
    table.add_column("state")
    table.add_column("dossiers", justify="right")
    for statut, count in sorted(states.items()):
        table.add_row(statut, f"{count:,}")
    table.add_row("total", f"{sum(states.values()):,}")
    return table


def _serve(settings: Settings, port: int) -> None:
    """The API with its engine on the demo's database and mock, until Ctrl-C."""
    key = asyncio.run(ops_key(settings))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Bound and listening here rather than by uvicorn: the URL printed is the port really
    # held, and a connection made as soon as it is printed waits in the backlog for the app's
    # start-up instead of being refused.
    listener.bind((LOOPBACK, port))
    listener.listen(socket.SOMAXCONN)
    url = f"http://{LOOPBACK}:{listener.getsockname()[1]}"
    # Plain lines, never wrapped: the URL and the key are copied from them.
    typer.echo(f"6. Serving the API on {url} (Ctrl-C to stop)")
    typer.echo(f"   Ops page:   {url}/ops (sign in with the OPS key)")
    typer.echo(f"   Metrics:    {url}/metrics")
    typer.echo(f"   Ops status: {url}/ops/status (Authorization: Bearer <OPS key>)")
    typer.echo(f"   OPS key:    {key}")
    app = create_app(settings, background=[delivery])
    server_for(app, host=LOOPBACK, port=listener.getsockname()[1]).run(sockets=[listener])


async def ops_key(settings: Settings) -> str:
    """A key of a new OPS organisation in the demo's database (a demo has no operator)."""
    engine = db.make_engine(settings.database_url)
    try:
        sessions = db.make_sessionmaker(engine)
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            organisation = NewOrganisation("Exploitation (démo)", Role.OPS)
            organisation_id = await add_organisation(session, organisation, now=now)
            return await create_key(session, organisation_id, now=now)
    finally:
        await engine.dispose()

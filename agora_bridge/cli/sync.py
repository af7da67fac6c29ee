"""`agora-bridge sync [--once]` and `agora-bridge replay …`: the sync engine from the shell."""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import signal
import subprocess
import sys
import time as clock
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Annotated

import typer
import uvloop
from sqlalchemy import ColumnElement

from agora_bridge.agora.client import AgoraClient
from agora_bridge.cli.common import operator_errors, run_database_command
from agora_bridge.delivery.engine import Engine, check_lease, utc_now
from agora_bridge.errors import OperatorError
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.logs import get_logger
from agora_bridge.settings import Settings
from agora_bridge.snapshots.validation import PARIS
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.livraisons import replay as replay_parked
from agora_bridge.storage.models import Livraison

log = get_logger(__name__)
# `replay` lists this many dossier ids; the count is always exact.
LISTED_IDS = 50
# More engines than this would only queue on the database's connections and the ledger's lock.
MAX_WORKERS = 16
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_DONE = re.compile(r"sync done: (\d+) dossier passes")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_S = 0.2  # how often `sync --workers` looks at its children


@operator_errors
def sync(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=MAX_WORKERS,
            help="Engines in as many processes (PostgreSQL only: claims are safe across "
            "processes; SQLite has a single writer).",
        ),
    ] = 1,
) -> None:
    """Deliver pending dossiers to AGORA, in the foreground (Ctrl-C or SIGTERM stops it)."""
    with _stop_signals() as stop:
        settings = Settings()
        check_lease(settings.sync, settings.agora_access())
        if workers > 1:
            passes = _processes(settings, workers, stop, once=once)
            typer.echo(f"sync done: {passes} dossier passes in {workers} processes")
            return
        # `serve`'s event loop (agora_bridge.serving): asyncpg and aiohttp spend less CPU a
        # call under uvloop, and this process is the bridge's busiest.
        passes = run_database_command(
            _sync(settings, stop, once=once), loop_factory=uvloop.new_event_loop
        )
    typer.echo(f"sync done: {passes} dossier passes")


class _Stop:
    """SIGINT or SIGTERM, from the command's first line to its last: a signal before the
    engine or the children exist is kept for them, not the default action (death, or, for
    a child, a status the parent took for a failure). Each listener is told in the signal
    handler, so it must only set a flag, send a signal or schedule a callback."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._listeners: list[Callable[[int], None]] = []

    def receive(self, signum: int, _frame: object) -> None:
        if self.signum is None:
            self.signum = signum
        for listener in self._listeners:
            listener(signum)

    def listen(self, listener: Callable[[int], None]) -> None:
        """`listener` for every stop signal from now on, and at once for one already come."""
        self._listeners.append(listener)
        if self.signum is not None:  # after the append: one arriving between is not missed
            listener(self.signum)


@contextmanager
def _stop_signals() -> Iterator[_Stop]:
    stop = _Stop()
    previous = {signum: signal.signal(signum, stop.receive) for signum in _STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# A pooled connection unused this long is checked before use (`db.make_engine`).
IDLE_PING_S = 2.0


async def _sync(settings: Settings, stop: _Stop, *, once: bool) -> int:
    # No ping each time a connection leaves the pool: a group commit's transaction and a
    # pass's load are a few statements, and the ping was one more round trip (three with
    # asyncpg) for each. A connection unused for 2 s is still checked, so that a restart of
    # PostgreSQL during a quiet spell costs nothing; under load, a connection the restart
    # broke fails its statement instead: a group is retried record by record, a failed
    # load's claim lapses, a failed tick is tried again.
    database = db.make_engine(settings.database_url, ping_after_idle_s=IDLE_PING_S)
    try:
        await db.assert_at_head(database)
        async with AgoraClient(settings.agora_access()) as client:
            engine = Engine(
                db.make_sessionmaker(database),
                client,
                NirCrypto.from_settings(settings),
                settings.sync,
                code_financeur=settings.code_financeur,
            )
            # Both stop alike: no new claim, the passes in flight finish, what was claimed and
            # not started is released, status 0. The loop's own signal handlers would only
            # cover the run, and `--once` had none: SIGTERM killed it mid-pass.
            if once:
                _on_stop(stop, engine.stop)
                return await engine.run_once()
            stopped = asyncio.Event()
            _on_stop(stop, stopped.set)
            await engine.run_forever(stopped)
            return 0
    finally:
        await database.dispose()


def _processes(settings: Settings, workers: int, stop: _Stop, *, once: bool) -> int:
    """`workers` engines, each `sync` in its own process: one process's CPU (one core) was
    the limit, and each engine claims with `SKIP LOCKED` and a lease, so two never hold one
    dossier (`delivery/claims.py`). SIGINT and SIGTERM are passed on; the passes' total."""
    if db.async_database_url(settings.database_url).startswith("sqlite"):
        raise OperatorError("--workers needs PostgreSQL: SQLite has a single writer")
    command = [sys.executable, "-m", "agora_bridge", "sync", *(["--once"] if once else [])]
    children: list[subprocess.Popen[bytes]] = []
    # Passed on from before the first child starts: a signal meanwhile stops those started
    # and starts no other.
    stop.listen(lambda signum: _forward(children, signum))
    for _ in range(workers):
        if stop.signum is not None:
            break
        children.append(
            subprocess.Popen(  # noqa: S603 - our own CLI
                # No thread runs yet in this process (no event loop): the fork is safe.
                command,
                stdout=subprocess.PIPE,
                preexec_fn=_stop_with(os.getpid()),  # noqa: PLW1509
            )
        )
    if stop.signum is not None:  # it may have come before the last child was in the list
        _forward(children, stop.signum)
    if not once:  # `--once` children end by themselves: one failing, the others finish
        _until_all_ended(children)
    outputs = [child.communicate()[0].decode() for child in children]
    failed = [child.returncode for child in children if not _ended_well(child, stop)]
    if failed:
        raise OperatorError(f"{len(failed)} of {workers} sync processes failed (status {failed})")
    return sum(int(found.group(1)) for out in outputs if (found := _DONE.search(out)))


def _forward(children: list[subprocess.Popen[bytes]], signum: int) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signum)


def _ended_well(child: subprocess.Popen[bytes], stop: _Stop) -> bool:
    """Status 0, or, once asked to stop, ended by the signal passed on: a child still
    starting (Python importing, before `sync` catches signals) dies of it, having claimed
    nothing. Taken for a failure, it made a SIGTERM during start-up exit 2."""
    return child.returncode == 0 or (stop.signum is not None and child.returncode == -stop.signum)


def _until_all_ended(children: list[subprocess.Popen[bytes]]) -> None:
    """Without `--once`: one child that fails (killed, out of memory) stops the others, their
    graceful stop. `sync --workers` then fails as a whole, for whatever supervises it to start
    it again, rather than run on with fewer engines and nobody told."""
    stopping = False
    while any(child.poll() is None for child in children):
        if not stopping and any(child.returncode not in (None, 0) for child in children):
            stopping = True
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
        clock.sleep(_POLL_S)


def _stop_with(parent: int) -> Callable[[], None]:
    """What a child runs between fork and exec so that a parent killed with SIGKILL, which
    cannot pass anything on, still stops it: Linux sends it SIGTERM when the parent dies (a
    supervisor restarting `sync --workers` would otherwise add engines to the orphans)."""

    # Loaded before the fork: after it, the child only makes the system call.
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None

    def arm() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return arm


def _on_stop(stop: _Stop, react: Callable[[], None]) -> None:
    """`react` in the running loop at a stop signal (the handler runs between any two
    bytecodes of the loop's own code: it only schedules)."""
    loop = asyncio.get_running_loop()

    def schedule(_signum: int) -> None:
        loop.call_soon_threadsafe(react)

    stop.listen(schedule)


@operator_errors
def replay(
    dossier: Annotated[str | None, typer.Option("--dossier", help="One dossier's id")] = None,
    failed_since: Annotated[
        datetime | None,
        typer.Option("--failed-since", formats=["%Y-%m-%d"], help="Parked since DATE"),
    ] = None,
    code: Annotated[str | None, typer.Option("--code", help="Parked with AGORA's CODE")] = None,
) -> None:
    """Put parked dossiers back in the queue (after the data was corrected on AGORA's side,
    or AGORA was fixed); the next sync plans them again from the newest snapshot."""
    where = _criterion(dossier, failed_since.date() if failed_since else None, code)
    ids = run_database_command(_replay(Settings().database_url, where))
    shown = ", ".join(ids[:LISTED_IDS]) + (", …" if len(ids) > LISTED_IDS else "")
    typer.echo(f"replayed {len(ids)} parked dossiers" + (f": {shown}" if ids else ""))


def _criterion(dossier: str | None, since: date | None, code: str | None) -> ColumnElement[bool]:
    given = [value for value in (dossier, since, code) if value is not None]
    if len(given) != 1:
        raise OperatorError("give exactly one of --dossier, --failed-since, --code")
    if dossier is not None:
        return Livraison.id_dossier == dossier
    if code is not None:
        return Livraison.code == code
    assert since is not None
    return Livraison.parked_at >= datetime.combine(since, time(), tzinfo=PARIS)


async def _replay(url: str, where: ColumnElement[bool]) -> list[str]:
    database = db.make_engine(url)
    try:
        await db.assert_at_head(database)
        async with db.make_sessionmaker(database)() as session, session.begin():
            now = utc_now()
            ids = await replay_parked(session, where, now=now)
            entries = [
                Entry(recorded_at=now, kind="operator.replay", id_dossier=key) for key in ids
            ]
            await append(on_session(session), entries)
        log.info("delivery.replayed", dossiers=len(ids))
        return ids
    finally:
        await database.dispose()

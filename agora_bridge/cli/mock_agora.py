"""`agora-bridge mock-agora`: the bundled AGORA V2 mock over HTTP (see mocks/README.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from mocks.server import LOOPBACK, serve


def mock_agora(
    *,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on")] = 8900,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = LOOPBACK,
    client_id: Annotated[str, typer.Option(help="Accepted client id")] = DEMO_CLIENT_ID,
    client_secret: Annotated[
        str, typer.Option(help="Accepted client secret", show_default=False)
    ] = DEMO_CLIENT_SECRET,
    lot_delay_s: Annotated[
        float, typer.Option(min=0, help="Seconds before a lot is processed")
    ] = 1.0,
    rate_limit: Annotated[
        int | None, typer.Option(min=1, help="Requests per second before 429 (none by default)")
    ] = None,
    token_ttl_s: Annotated[int, typer.Option(min=1, help="Token lifetime in seconds")] = 600,
) -> None:
    """Run the AGORA V2 mock (state in memory, control endpoints under /__mock__)."""
    typer.echo(f"AGORA V2 mock on http://{host}:{port}/agora/v2 (client id {client_id})", err=True)
    serve(
        host=host,
        port=port,
        client_id=client_id,
        client_secret=client_secret,
        lot_delay_s=lot_delay_s,
        rate_limit=rate_limit,
        token_ttl_s=token_ttl_s,
    )

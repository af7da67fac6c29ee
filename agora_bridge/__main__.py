"""`python -m agora_bridge` is `agora-bridge`."""

from agora_bridge.cli.main import app

app(prog_name="agora-bridge")

"""The HTTP API: one app factory (`create_app`), a router per domain, problem+json errors."""

from agora_bridge.api.app import BackgroundService, create_app

__all__ = ["BackgroundService", "create_app"]

"""The monitoring surface (`docs/OPS.md`): the ops status read from the database, the
Prometheus collectors, the ops page and its browser session. The routes are in
`agora_bridge/api/ops.py`."""

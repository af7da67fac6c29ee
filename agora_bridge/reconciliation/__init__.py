"""`agora-bridge reconcile`: AGORA read back and compared with what it acknowledged."""

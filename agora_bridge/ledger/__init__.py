"""The audit ledger (`operations.md`, Audit ledger): hash-chained, append-only, verifiable."""

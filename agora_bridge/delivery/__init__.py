"""The sync engine: every stored snapshot reaches AGORA, in order, once (`docs/DELIVERY.md`).

`engine` runs the workers, `dossier_pass` is one reconcile pass over one dossier, `claims`
takes and leases the due work items, `recorder` commits attempts and outcomes in groups with
their ledger entries, `acknowledged` keeps what AGORA confirmed, `breaker` pauses on
repeated failures, `decisions` is the one door to the planner, `stats` what ops will read.
"""

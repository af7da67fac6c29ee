"""The reprise d'antériorité (`agora-bridge backfill`): a file through AGORA lots, resumable.

1. `reading`: the file is stored through the ingest of the sync path, batch by batch; in each
   batch's transaction the sendable dossiers nobody has sent yet are set aside for a lot
   (`livraison.lot_id` = the reprise's marker: the engine leaves them alone) and the line
   reached is recorded.
2. `packing`: once the whole file is read (so each dossier's newest version is stored), the
   set-aside dossiers are packed into lots of their final state; a lot is recorded, key and
   body, before it leaves.
3. `lots`: a few lots in flight, polled with backoff; each compte-rendu is recorded in one
   transaction (`outcomes`): acknowledged states, work items, ledger.
"""

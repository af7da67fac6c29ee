"""The two documents the Pacte's SI annex (article 2.4) makes the Région give the DGEFP and the
CDC, generated from the tables the code runs on (`agora-bridge doc-mapping`):

- `correspondance`: every snapshot field that reaches AGORA, the AGORA field it becomes, and its
  transformation (`decision/projection.py` joined with `agora/mapping.py`);
- `declenchement`: which change of a snapshot sends which AGORA call, and the exclusions and
  holds that stop it (`snapshots/perimeter.py`, `snapshots/nir.py`, `decision/planner.py`,
  `decision/dossier.py`).

`rendu` writes them as Markdown (committed under `docs/`, kept true by a test) or CSV.
"""

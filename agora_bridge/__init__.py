"""agora_bridge: the Pays de la Loire Région's connector to AGORA (Caisse des Dépôts)."""

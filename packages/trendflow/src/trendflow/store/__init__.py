"""ResultStore: per-run NPZ artifacts and one ``manifest.json`` per run."""

"""seqgan core: config, models, oracle, data, weight packing, metrics (no Ray here)."""

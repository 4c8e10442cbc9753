"""AV classification: `fit` (the one training loop), run specs and their results, linear probes, the engine
that runs every (spec, seed) of a table (worker pool, batched under vmap, or DDP)."""

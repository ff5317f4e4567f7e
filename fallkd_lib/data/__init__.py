"""The data stage: sources, the synthetic generator, merge, crops and statistics (one module per idea)."""

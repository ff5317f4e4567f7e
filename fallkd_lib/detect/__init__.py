"""The runtime stage: per-track fall state (long-lie detection) and alert delivery, one module per idea."""

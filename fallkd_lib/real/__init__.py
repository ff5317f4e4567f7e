"""The real-data recipe: fallkd's camera trained offline on local real YOLO datasets, the synthetic world as its
pretraining, scored on a camera it never saw (`fallkd real`, benchmarks/bench_real.py)."""

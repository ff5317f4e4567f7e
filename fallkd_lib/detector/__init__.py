"""The person detector's training stage, one module per idea.

    dataset   the detector's dataset, made from a merged fall/normal dataset (person or fall/normal labels)
    train     YOLOv5s training and mAP evaluation through ultralytics, offline-safe, resumable
    evaluate  fall/normal box scoring image by image; modes: a 2-class detector vs detector + classifier

Loading and running a trained detector is `fallkd_lib.runtime` (loaders, detector).
"""

"""The person detector's training stage, one module per idea.

    dataset   the detector's dataset, made from a merged fall/normal dataset (person or fall/normal labels)
    train     YOLOv5s training and mAP evaluation through ultralytics, offline-safe, resumable
    evaluate  fall/normal box scoring image by image; modes: a 2-class detector vs detector + classifier
    image_level    is there a fall in this image: scores, the threshold (and gate) chosen on a validation split
    image_systems  the detection rows of a 2-class detector, a person detector + classifier, truth + classifier
    not_person     what the second stage calls the detector's false positives, and what a fix costs in recall

Loading and running a trained detector is `fallkd_lib.runtime` (loaders, detector).
"""

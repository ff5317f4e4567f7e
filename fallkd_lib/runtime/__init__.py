"""The camera at run time, one module per idea; inference only, so nothing here imports fallkd's training code.

loaders     load a trained detector or classifier with the settings it carries
classifier  the classifier backends (torch checkpoint, ONNX export) and their preprocessing
detector    run the detector on frames
sources     frame sources (image, folder, video, webcam, stream) and video / image writers
tracking    the IoU tracker used when ultralytics' ByteTrack cannot run (no `lap`)
state       per-track fall state: smoothing, hysteresis, the long-lie timer
pipeline    detect -> crop -> classify -> track -> fall state -> alerts, one frame at a time
alerts      alert records and their delivery (console, JSONL); webhook: the HTTP sink
events      event-level scoring of alerts against clips with ground truth; oracle: truth stand-ins
"""

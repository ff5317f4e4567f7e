"""The detector around its ONNX / TensorRT model: ultralytics' letterbox, YOLO output decoding with class-agnostic
NMS, and boxes back in frame pixels, so an exported YOLO detector finds the boxes ultralytics finds with it.
numpy + OpenCV only; Python 3.6.

The rules follow ultralytics' predictor (the host camera's): LetterBox (scale the longer side to the input, round
each side, pad centred with grey 114: ``round(d - 0.1)`` before, ``round(d + 0.1)`` after), RGB / 255 in NCHW, the
raw head output (1, 4 + classes, anchors) of centre-x, centre-y, width, height and class scores, a candidate when its
best class score is > conf, agnostic NMS at iou, at most max_det boxes, then scale_boxes and clipping.
"""

import cv2
import numpy as np

from .boxes import nms


def letterbox_params(height, width, size):
    """(new_w, new_h, top, bottom, left, right) of ultralytics' LetterBox of a height x width image into size."""
    r = min(size / height, size / width)
    new_w, new_h = max(int(round(width * r)), 1), max(int(round(height * r)), 1)
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    return (
        new_w,
        new_h,
        int(round(dh - 0.1)),
        int(round(dh + 0.1)),
        int(round(dw - 0.1)),
        int(round(dw + 0.1)),
    )


def detector_input(image, size, fill=114):
    """A (1, 3, size, size) float32 RGB / 255 input from an RGB uint8 frame, letterboxed as ultralytics does."""
    new_w, new_h, top, bottom, left, right = letterbox_params(image.shape[0], image.shape[1], size)
    if (image.shape[1], image.shape[0]) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(fill,) * 3)
    x = image.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(x)


def frame_boxes(boxes, height, width, size):
    """(N, 4) x1 y1 x2 y2 in the size x size input -> frame pixels, clipped (ultralytics' scale_boxes)."""
    gain = min(size / height, size / width)
    new_h, new_w = max(int(round(height * gain)), 1), max(int(round(width * gain)), 1)
    gain_y, gain_x = new_h / height, new_w / width
    pad_x, pad_y = int(round((size - new_w) / 2 - 0.1)), int(round((size - new_h) / 2 - 0.1))
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    boxes[:, [0, 2]] -= pad_x
    boxes[:, [1, 3]] -= pad_y
    boxes[:, [0, 2]] /= gain_x
    boxes[:, [1, 3]] /= gain_y
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes


def decode(output, conf, iou, max_det=300, max_nms=30000):
    """(N, 6) float32 x1 y1 x2 y2 conf class in input pixels from a (1, 4 + classes, anchors) YOLO output."""
    pred = np.asarray(output, dtype=np.float32)[0].T  # (anchors, 4 + classes)
    scores = pred[:, 4:]
    best = scores.max(axis=1)
    pred, scores, best = pred[best > conf], scores[best > conf], best[best > conf]
    if not len(pred):
        return np.zeros((0, 6), dtype=np.float32)
    cls = scores.argmax(axis=1).astype(np.float32)
    xy, half = pred[:, :2], pred[:, 2:4] / np.float32(2)
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    if len(pred) > max_nms:  # ultralytics keeps the max_nms best before NMS
        top = np.argsort(-best, kind="stable")[:max_nms]
        boxes, best, cls = boxes[top], best[top], cls[top]
    keep = nms(boxes, best, iou)[:max_det]
    return np.concatenate([boxes[keep], best[keep, None], cls[keep, None]], axis=1)


def detect(run, image, size, conf, iou, max_det=300, fill=114):
    """(N, 6) float32 x1 y1 x2 y2 conf class in frame pixels for one RGB frame; run(x) is the detector model."""
    output = run(detector_input(image, size, fill))
    dets = decode(output, conf, iou, max_det)
    dets[:, :4] = frame_boxes(dets[:, :4], image.shape[0], image.shape[1], size)
    return dets

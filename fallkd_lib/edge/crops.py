"""The classifier's input: a person box padded, clipped and letterboxed into a square crop (as `fallkd crops` cut
the training crops), then resized to the model's side and normalised. numpy + OpenCV only; Python 3.6.

The resize is torch's bilinear interpolation with antialias (`F.interpolate(..., antialias=True)`, what the host
runtime uses), written out as two weight matrices; tests compare the two.
"""

import functools
import math

import cv2
import numpy as np

from .errors import UsageError

LETTERBOX_FILL = 114  # the grey of the letterbox bars (ultralytics' value)
_EPS = 1e-6  # absorbs float noise such as 0.7 * 90 = 62.99999999999999 before rounding outward


def padded_box(xyxy, pad, width, height):
    """Grow a box by `pad` x its size on each side, round outward to pixels and clip to the image."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if pad < 0:
        raise UsageError(
            "pad must be >= 0 (a fraction of the box size added on each side), got {}".format(pad)
        )
    if not (x2 >= x1 and y2 >= y1) or not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise UsageError("box {} is not (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2".format(tuple(xyxy)))
    dx, dy = pad * (x2 - x1), pad * (y2 - y1)
    left = min(max(math.floor(x1 - dx + _EPS), 0), width)
    top = min(max(math.floor(y1 - dy + _EPS), 0), height)
    right = min(max(math.ceil(x2 + dx - _EPS), 0), width)
    bottom = min(max(math.ceil(y2 + dy - _EPS), 0), height)
    if right <= left or bottom <= top:
        raise UsageError(
            "box {} is empty inside the {}x{} image (padded and clipped: {}); check that boxes are in pixels "
            "of this image".format(tuple(xyxy), width, height, (left, top, right, bottom))
        )
    return left, top, right, bottom


def letterbox_params(height, width, size):
    """(scale, new_w, new_h, left, top): the resize that fits the longer side to `size`, centred."""
    if height < 1 or width < 1 or size < 1:
        raise UsageError(
            "letterbox needs a non-empty image and size >= 1, got {}x{} -> {}".format(height, width, size)
        )
    scale = size / max(height, width)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    return scale, new_w, new_h, (size - new_w) // 2, (size - new_h) // 2


def letterbox(image, size, fill=LETTERBOX_FILL):
    """Resize keeping the aspect ratio (longer side = size) and centre on a size x size canvas of `fill`."""
    scale, new_w, new_h, left, top = letterbox_params(image.shape[0], image.shape[1], size)
    if (new_w, new_h) == (image.shape[1], image.shape[0]):
        resized = image
    else:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas = np.full((size, size, 3), fill, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def crop_person(image, xyxy, size, pad, fill=LETTERBOX_FILL):
    """The letterboxed size x size crop of one person box (pixels, x1 y1 x2 y2), padded by `pad` per side."""
    left, top, right, bottom = padded_box(xyxy, pad, image.shape[1], image.shape[0])
    return letterbox(image[top:bottom, left:right], size, fill)


def crop_people(image, boxes_xyxy, size, pad, fill=LETTERBOX_FILL):
    """Crops of all boxes (N x 4 pixels) of one RGB frame as an (N, size, size, 3) uint8 array."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise UsageError(
            "boxes_xyxy must be an (N, 4) array of x1 y1 x2 y2 pixels, got shape {}".format(boxes.shape)
        )
    out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for i, box in enumerate(boxes):
        out[i] = crop_person(image, box, size, pad, fill)
    return out


@functools.lru_cache(maxsize=32)
def antialias_taps(in_size, out_size):
    """(index, weight) arrays of shape (out_size, K) of torch's antialiased bilinear resize along one axis: a
    triangle filter widened by the scale when shrinking, each row normalised to sum 1 (align_corners=False),
    computed in float32 step by step as torch's CPU kernel does (unused taps have weight 0). Cached and read-only:
    a camera resizes crops of one size to one size every frame, and the Python loop costs more than the resize."""
    f32 = np.float32
    scale = f32(in_size / out_size)
    support = scale if scale >= 1.0 else f32(1.0)
    inv = f32(1.0) / scale if scale >= 1.0 else f32(1.0)
    rows = []
    for i in range(out_size):
        center = scale * f32(i + 0.5)
        lo = max(int(center - support + f32(0.5)), 0)
        hi = min(int(center + support + f32(0.5)), in_size)
        w = [max(f32(0.0), f32(1.0) - abs((f32(j) - center + f32(0.5)) * inv)) for j in range(lo, hi)]
        total = f32(0.0)
        for v in w:
            total = f32(total + v)
        rows.append((lo, [v / total if total != 0 else v for v in w]))
    taps = max(len(w) for _, w in rows)
    index = np.zeros((out_size, taps), dtype=np.int64)
    weight = np.zeros((out_size, taps), dtype=np.float32)
    for i, (lo, w) in enumerate(rows):
        index[i] = lo + np.minimum(np.arange(taps), len(w) - 1)
        weight[i, : len(w)] = w
    index.setflags(write=False)
    weight.setflags(write=False)
    return index, weight


@functools.lru_cache(maxsize=32)
def resize_matrix(in_size, out_size):
    """antialias_taps as one dense (out_size, in_size) float32 matrix, so that a resize along one axis is a matrix
    product (numpy's BLAS) instead of a Python loop over taps; cached and read-only."""
    index, weight = antialias_taps(in_size, out_size)
    matrix = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    for k in range(index.shape[1]):
        np.add.at(matrix, (rows, index[:, k]), weight[:, k])
    matrix.setflags(write=False)
    return matrix


def resize_crops(crops, size):
    """(N, S, S, 3) uint8 crops -> (N, 3, size, size) float32 (channels first, the model's layout), antialiased
    bilinear, rounded to whole grey levels: rows then columns as two matrix products. torch sums the taps one by
    one, so a value on a .5 tie may round the other way: one grey level, for a few pixels in a thousand."""
    crops = np.asarray(crops)
    if not len(crops):
        return np.zeros((0, 3, size, size), dtype=np.float32)
    x = crops.transpose(0, 3, 1, 2).astype(np.float32)
    if crops.shape[1:3] == (size, size):
        return x
    x = np.matmul(np.matmul(resize_matrix(x.shape[2], size), x), resize_matrix(x.shape[3], size).T)
    return np.clip(np.round(x, out=x), 0, 255, out=x)


@functools.lru_cache(maxsize=8)
def _normaliser(mean, std):
    """(scale, shift) with (x - 255 mean) / (255 std) == x * scale + shift, shaped (1, 3, 1, 1), float32."""
    m = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1) * np.float32(255.0)
    s = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1) * np.float32(255.0)
    scale, shift = np.float32(1.0) / s, -m / s
    for array in (scale, shift):
        array.setflags(write=False)
    return scale, shift


def classifier_batch(crops, image_size, mean, std):
    """(N, S, S, 3) uint8 RGB crops -> (N, 3, image_size, image_size) float32, resized and normalised."""
    scale, shift = _normaliser(tuple(float(v) for v in mean), tuple(float(v) for v in std))
    x = resize_crops(crops, image_size)
    x *= scale
    x += shift
    return np.ascontiguousarray(x, dtype=np.float32)


def softmax(logits):
    """Row-wise softmax of (N, C) scores, float32."""
    z = np.asarray(logits, dtype=np.float32)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)

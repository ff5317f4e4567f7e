"""The operator-set versions of an .onnx file, read from its protobuf without the onnx package (the Jetson may not
have it), and the opset check `build_engines.sh` runs before TensorRT sees a file. Python 3.6, stdlib only.

    python3 -m fallkd_edge.onnx_info detector.onnx classifier.onnx --max-opset 13
"""

import argparse
import sys

from .errors import UsageError

MAX_OPSET = 13  # JetPack 4.6 ships TensorRT 8.2, whose ONNX parser reads opsets up to 13


def _varint(data, pos):
    """(value, next position) of the protobuf varint at pos."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data):
    """(field number, wire type, value) of each field of one protobuf message (bytes for length-delimited)."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise UsageError("not a protobuf message (wire type {} at byte {})".format(wire, pos))
        yield number, wire, value


def read_opsets(path):
    """{domain: version} of a ModelProto's opset_import ("" is the default ONNX domain)."""
    with open(str(path), "rb") as f:
        data = f.read()
    opsets = {}
    try:
        for number, wire, value in _fields(data):
            if number == 8 and wire == 2:  # ModelProto.opset_import (OperatorSetIdProto)
                domain, version = "", None
                for sub, sub_wire, sub_value in _fields(value):
                    if sub == 1 and sub_wire == 2:
                        domain = sub_value.decode("utf-8")
                    elif sub == 2 and sub_wire == 0:
                        version = sub_value
                opsets[domain] = version
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise UsageError("{} is not a readable ONNX model: {}".format(path, exc)) from exc
    if "" not in opsets and "ai.onnx" not in opsets:
        raise UsageError("{} is not an ONNX model (no opset_import of the ONNX domain)".format(path))
    return opsets


def onnx_opset(path):
    """The ONNX-domain opset of a model file."""
    opsets = read_opsets(path)
    return opsets.get("", opsets.get("ai.onnx"))


def main(argv=None):
    """Print each file's opset; exit 1 naming the file when one is above --max-opset."""
    parser = argparse.ArgumentParser(description="check the ONNX opset of model files")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--max-opset", type=int, default=MAX_OPSET)
    args = parser.parse_args(argv)
    bad = 0
    for path in args.files:
        try:
            opset = onnx_opset(path)
        except (OSError, ValueError) as exc:
            print("error: {}".format(exc), file=sys.stderr)
            bad += 1
            continue
        if opset > args.max_opset:
            print(
                "error: {} uses ONNX opset {}, above {} (TensorRT 8.2 of JetPack 4.6 reads up to 13): re-export "
                "it with `fallkd export`".format(path, opset, args.max_opset),
                file=sys.stderr,
            )
            bad += 1
        else:
            print("{}: opset {}".format(path, opset))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""The two models behind one call, model(x) -> first output as numpy: ONNX Runtime (CPU, or CUDA when present) or
a TensorRT engine (TensorRT 8.2 of JetPack 4.6, or TensorRT 10). TensorRT's buffers live in GPU memory taken
from libcudart through ctypes, so neither pycuda nor torch is needed. Python 3.6.
"""

import ctypes
import ctypes.util
import glob
import os

import numpy as np

from .errors import UsageError


class OnnxRuntimeModel(object):
    """An ONNX file run by ONNX Runtime; threads caps its intra-op threads (0: ONNX Runtime's choice)."""

    def __init__(self, path, threads=0, device="cpu"):
        """Open the session (no spinning threads, so two models on a small CPU do not fight for the cores)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x):
        """The model's first output for one float32 input batch."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def _cudart():
    """libcudart through ctypes (the CUDA toolkit's or the pip wheel's)."""
    names = [ctypes.util.find_library("cudart")]
    names += sorted(glob.glob("/usr/local/cuda*/lib64/libcudart.so*"), reverse=True)
    names += sorted(glob.glob("/usr/local/cuda*/targets/*/lib/libcudart.so*"), reverse=True)
    try:
        import nvidia.cuda_runtime  # the pip wheel beside a pip-installed tensorrt

        folder = os.path.join(list(nvidia.cuda_runtime.__path__)[0], "lib")
        names += sorted(glob.glob(os.path.join(folder, "libcudart.so*")), reverse=True)
    except ImportError:
        pass
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
        lib.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.cudaFree.argtypes = [ctypes.c_void_p]
        return lib
    raise UsageError("libcudart not found: TensorRT needs the CUDA runtime (JetPack installs it)")


_HOST_TO_DEVICE, _DEVICE_TO_HOST = 1, 2


def _check(code, what):
    """Raise when a CUDA runtime call failed."""
    if code != 0:
        raise RuntimeError("CUDA {} failed with error {}".format(what, code))


class TensorRTModel(object):
    """A serialized TensorRT engine (one input, first output returned), synchronous execute_v2 per call."""

    def __init__(self, path):
        """Deserialize the engine; buffers are sized on the first call of each input shape."""
        import tensorrt as trt

        self.trt, self.cuda = trt, _cudart()
        logger = trt.Logger(trt.Logger.WARNING)
        with open(str(path), "rb") as f:
            self.engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise UsageError(
                "{}: TensorRT could not read this engine (built by another TensorRT version or for another "
                "GPU?): build it again on this device with build_engines.sh".format(path)
            )
        self.context = self.engine.create_execution_context()
        self.named = hasattr(self.engine, "num_io_tensors")  # TensorRT >= 8.5: tensors by name
        count = self.engine.num_io_tensors if self.named else self.engine.num_bindings
        self.names = [self.engine.get_tensor_name(i) if self.named else i for i in range(count)]
        self.inputs = [n for n in self.names if self._is_input(n)]
        self._buffers, self._sizes = {}, {}

    def _is_input(self, name):
        """True for an input tensor (binding)."""
        if self.named:
            return self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT
        return self.engine.binding_is_input(name)

    def _dtype(self, name):
        """numpy dtype of a tensor (binding)."""
        dtype = self.engine.get_tensor_dtype(name) if self.named else self.engine.get_binding_dtype(name)
        return np.dtype(self.trt.nptype(dtype))

    def _buffer(self, name, nbytes):
        """A device buffer of at least nbytes for a tensor, reused across calls."""
        if self._sizes.get(name, -1) < nbytes:
            if name in self._buffers:
                _check(self.cuda.cudaFree(self._buffers[name]), "cudaFree")
            pointer = ctypes.c_void_p()
            _check(self.cuda.cudaMalloc(ctypes.byref(pointer), max(nbytes, 1)), "cudaMalloc")
            self._buffers[name], self._sizes[name] = pointer.value, nbytes
        return self._buffers[name]

    def __call__(self, x):
        """The engine's first output for one input batch (shape within the engine's optimisation profile)."""
        name = self.inputs[0]
        x = np.ascontiguousarray(x, dtype=self._dtype(name))
        if self.named:
            self.context.set_input_shape(name, tuple(x.shape))
        else:
            self.context.set_binding_shape(name, tuple(x.shape))
        bindings, outputs = [], []
        for tensor in self.names:
            if tensor == name:
                pointer = self._buffer(tensor, x.nbytes)
                _check(self.cuda.cudaMemcpy(pointer, x.ctypes.data, x.nbytes, _HOST_TO_DEVICE), "cudaMemcpy")
            else:
                shape = (
                    self.context.get_tensor_shape(tensor)
                    if self.named
                    else self.context.get_binding_shape(tensor)
                )
                out = np.empty(tuple(shape), dtype=self._dtype(tensor))
                pointer = self._buffer(tensor, out.nbytes)
                outputs.append((pointer, out))
            bindings.append(int(pointer))
        if not self.context.execute_v2(bindings):
            raise RuntimeError("TensorRT execution failed")
        pointer, out = outputs[0]
        _check(self.cuda.cudaMemcpy(out.ctypes.data, pointer, out.nbytes, _DEVICE_TO_HOST), "cudaMemcpy")
        return out.astype(np.float32)

    def __del__(self):
        """Free the device buffers."""
        for pointer in getattr(self, "_buffers", {}).values():
            self.cuda.cudaFree(pointer)


def open_model(path, backend, threads=0):
    """A model(x) callable: backend "onnxruntime" opens path (.onnx), "tensorrt" the engine beside it (.engine)."""
    if backend == "onnxruntime":
        return OnnxRuntimeModel(path, threads)
    if backend == "tensorrt":
        engine = os.path.splitext(str(path))[0] + ".engine"
        if not os.path.isfile(engine):
            raise UsageError("{} not found: build the engines first (bash build_engines.sh)".format(engine))
        return TensorRTModel(engine)
    raise UsageError("backend {!r}: choose onnxruntime or tensorrt".format(backend))


def build_engine(onnx_path, engine_path, fp16=True, shapes=None, workspace_mb=1024):
    """Build a TensorRT engine from an ONNX file with the tensorrt Python package (what build_engines.sh does with
    trtexec); shapes maps an input name to (min, opt, max) shapes for a dynamic input."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(str(onnx_path), "rb") as f:
        if not parser.parse(f.read()):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise UsageError("TensorRT cannot parse {}: {}".format(onnx_path, "; ".join(errors)))
    config = builder.create_builder_config()
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    else:  # TensorRT 8.2
        config.max_workspace_size = workspace_mb << 20
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if shapes:
        profile = builder.create_optimization_profile()
        for name, (low, opt, high) in shapes.items():
            profile.set_shape(name, low, opt, high)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("TensorRT could not build an engine from {}".format(onnx_path))
    with open(str(engine_path), "wb") as f:
        f.write(serialized)
    return engine_path

"""Static int8 quantisation of an exported model, for faster batch-4 inference.

ONNX Runtime's static quantiser, in the QDQ format: every convolution's and linear layer's
weights become int8 (one scale per output channel, symmetric), its activations uint8 (the
fast u8 x s8 path of x86 CPUs), each pair of QuantizeLinear/DequantizeLinear a standard ONNX
operator, so the file runs anywhere ONNX runs and the leaderboard takes it. The activations'
ranges come from calibration images, taken from the training set (never the test set), and
the pixels-in-[0, 1] contract of the float file is kept: the normalisation inside the graph
stays in float32 before the first quantised tensor.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

from cnnlab.evaluate.onnx_check import STANDARD_DOMAINS

CALIBRATION_IMAGES = 512  # ranges settle within a few hundred images for these networks
CALIBRATION_BATCH = 32


def _only_used_domains(model: onnx.ModelProto) -> None:
    """Drop the opset imports of domains no node uses (ONNX Runtime's shape pass lists its own
    contrib domains; a file that names them is refused by checks that allow standard ONNX
    only)."""
    used = {node.domain for node in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in STANDARD_DOMAINS or o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def quantize_int8(data: bytes, calibration: np.ndarray) -> bytes:
    """The int8 QDQ form of the float ONNX model in `data`, its activation ranges calibrated
    on `calibration` (float32 pixels in [0, 1], as the file receives them)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    if len(calibration) == 0:
        raise ValueError("int8 quantisation needs calibration images; none were given")
    model = onnx.load_from_string(data)
    input_name = model.graph.input[0].name

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{input_name: calibration[i:i + CALIBRATION_BATCH]}
                                 for i in range(0, len(calibration), CALIBRATION_BATCH)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="cnnlab-int8-") as folder:
        float_path, prepared, quantized = (Path(folder) / name for name in
                                           ("float.onnx", "prepared.onnx", "int8.onnx"))
        float_path.write_bytes(data)
        # shapes inferred for the quantiser; no graph rewrite (the export folded batch norm)
        quant_pre_process(str(float_path), str(prepared), skip_optimization=True)
        quantize_static(str(prepared), str(quantized), Batches(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        result = onnx.load(str(quantized))
    _only_used_domains(result)
    result.producer_name = "cnnlab (int8, onnxruntime.quantization)"
    return result.SerializeToString()

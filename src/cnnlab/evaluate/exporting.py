"""`cnnlab export` of anything a command can be pointed at, under its preprocessing contract,
checked on real images before a byte is written.

Random pixels prove that ONNX Runtime computes what torch computes; they cannot prove that
the file receives what the weights were trained on. So the file's accuracy on real validation
images is measured beside the torch model's on the same images, and for weights named bare
(whose contract only the user knows) beside the torch model's under the other contract too: a
file that scores more than half a point below the best of them is not written, and the
message says which contract the weights look trained on (when, under it, they score well
above chance: untrained weights score about chance under any contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.data.contract import NORMALIZATIONS, Preprocessing, unit_pixels
from cnnlab.evaluate.onnx_export import export_bytes
from cnnlab.evaluate.predictors import ModelPredictor, OnnxPredictor, predict_all
from cnnlab.evaluate.targets import Target, target_splits
from cnnlab.runs import folder as layout

CHECK_IMAGES = 2000  # enough to tell contracts apart; quick even for VGG-16 on the CPU
TOLERANCE = 0.005  # half a point of accuracy


@dataclass
class Int8Report:
    calibration_images: int
    accuracy: float  # on the same check images as the float file's
    agreement: float  # share of those images where int8 and float predict the same class
    float_size: int


@dataclass
class ExportReport:
    data: bytes
    info: object  # onnx_check.OnnxInfo
    logits_difference: float  # max abs, on random pixels
    contract: Preprocessing
    images: int
    where: str  # "fashion-mnist validation images", ...
    onnx_accuracy: float
    torch_accuracy: float
    alternatives: dict[str, float] = field(default_factory=dict)  # contract -> torch accuracy
    int8: Int8Report | None = None  # when --quantize int8 wrote the int8 form instead

    def __repr__(self) -> str:  # a terminal shows the report, not the file's bytes
        return self.text().rstrip("\n")

    def text(self) -> str:
        info = self.info
        inside = (f"the {self.contract.dataset} normalisation is inside "
                  f"({self.contract.statistics()})" if not self.contract.is_identity else
                  "no normalisation inside (--normalize none)")
        lines = [f"input  {info.input_name}: float32 {tuple(info.input_shape)}, pixels in "
                 f"[0, 1]; {inside}",
                 f"output {info.output_name}: float32 {tuple(info.output_shape)}",
                 f"checked on {self.images:,} {self.where}: ONNX Runtime "
                 f"{100 * self.onnx_accuracy:.2f}%, torch {100 * self.torch_accuracy:.2f}% "
                 f"(logits within {self.logits_difference:.2g} of torch's on random pixels)"]
        for normalize, accuracy in self.alternatives.items():
            lines.append(f"  with --normalize {normalize} the torch model would score "
                         f"{100 * accuracy:.2f}%")
        if self.int8 is not None:
            q = self.int8
            lines.append(f"int8 (static QDQ, calibrated on {q.calibration_images:,} training "
                         f"images): {100 * q.accuracy:.2f}% on the same images, the float "
                         f"file {100 * self.onnx_accuracy:.2f}% "
                         f"({100 * (q.accuracy - self.onnx_accuracy):+.2f} points; the same "
                         f"class predicted for {100 * q.agreement:.2f}% of them); "
                         f"{info.size_bytes / 2**20:.2f} MiB, the float file "
                         f"{q.float_size / 2**20:.2f} MiB")
        return "\n".join(lines) + "\n"


def torch_model(target: Target):
    """The target's model on torch (one trained on scratch gets its torch twin, checked to
    compute the same logits)."""
    return target.build("torch")


def check_images(target: Target, data_dir: str | None = None):
    """(uint8 images, labels, what they are): the target's validation images, or training
    images when it kept no validation split; never the test set."""
    splits = target_splits(target, data_dir)
    images, labels = splits.val
    where = f"{target.spec.name} validation images"
    if len(images) == 0:
        images, labels = splits.train
        where = f"{target.spec.name} training images (the run kept no validation split)"
    return images[:CHECK_IMAGES], labels[:CHECK_IMAGES], where


def _accuracy(predictor, pixels: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predict_all(predictor, pixels).argmax(1) == labels))


def export_target(target: Target, output: str | Path | None,
                  data_dir: str | None = None, quantize: str | None = None) -> ExportReport:
    """Export `target` under its contract, check it on real images, and write `output`
    atomically (nothing when a check fails; nothing at all when `output` is None). With
    `quantize="int8"` the file written is the int8 form of the checked float export, its
    accuracy measured on the same images beside the float file's."""
    if quantize not in (None, "int8"):
        raise ValueError(f"--quantize: expected int8, got {quantize!r}")
    if target.is_onnx:
        raise ValueError(f"{target.path} is already an ONNX file")
    model = torch_model(target)
    contract, spec = target.contract, target.spec
    data, info, difference = export_bytes(model, contract, spec.shape, len(spec.classes))
    images, labels, where = check_images(target, data_dir)
    pixels = unit_pixels(images)
    onnx_predictions = predict_all(OnnxPredictor(data), pixels).argmax(1)
    onnx_accuracy = float(np.mean(onnx_predictions == labels))
    torch_accuracy = _accuracy(ModelPredictor(model, contract), pixels, labels)
    alternatives = {}
    if target.kind == "model" and target.weights is not None:  # the user named the contract
        for normalize in NORMALIZATIONS:
            if normalize != contract.normalize:
                other = Preprocessing.of(spec, normalize)
                alternatives[normalize] = _accuracy(ModelPredictor(model, other), pixels,
                                                    labels)
    report = ExportReport(data, info, difference, contract, len(labels), where,
                          onnx_accuracy, torch_accuracy, alternatives)
    _refuse_if_wrong(report, target)
    if quantize == "int8":
        data = _int8(report, target, pixels, labels, onnx_predictions, data_dir)
    if output is not None:  # into a run folder: recorded as its export
        layout.write_weights_file(output, data)
    return report


def _int8(report: ExportReport, target: Target, pixels: np.ndarray, labels: np.ndarray,
          float_predictions: np.ndarray, data_dir: str | None) -> bytes:
    """The int8 file, checked as a leaderboard checks files, with its accuracy on the check
    images (whose float predictions are given) recorded in `report`."""
    from cnnlab.evaluate.onnx_check import check_onnx
    from cnnlab.evaluate.quantize import CALIBRATION_IMAGES, quantize_int8

    train, _ = target_splits(target, data_dir).train
    chosen = np.random.default_rng(0).permutation(len(train))[:CALIBRATION_IMAGES]
    calibration = unit_pixels(train[np.sort(chosen)])
    data = quantize_int8(report.data, calibration)
    info = check_onnx(data, target.spec.shape, len(target.spec.classes))
    int8_predictions = predict_all(OnnxPredictor(data), pixels).argmax(1)
    report.int8 = Int8Report(len(calibration), float(np.mean(int8_predictions == labels)),
                             float(np.mean(int8_predictions == float_predictions)),
                             len(report.data))
    report.data, report.info = data, info
    return data


def _refuse_if_wrong(report: ExportReport, target: Target) -> None:
    scored = (f"the file scores {100 * report.onnx_accuracy:.2f}% on {report.images:,} "
              f"{report.where}")
    if abs(report.onnx_accuracy - report.torch_accuracy) > TOLERANCE:
        raise ValueError(f"not written: {scored}, the torch model "
                         f"{100 * report.torch_accuracy:.2f}% on the same images with the same "
                         "preprocessing, so the export changed the model's predictions; check "
                         "its forward for what the ONNX exporter cannot follow (branches on "
                         "tensor values, in-place changes of the input, randomness at "
                         "evaluation)")
    chance = 1 / len(target.spec.classes)
    for normalize, accuracy in report.alternatives.items():
        # evidence only from weights that learnt something: untrained ones score about
        # chance under any contract, and differ by noise
        if accuracy - report.onnx_accuracy > TOLERANCE and accuracy > 2 * chance:
            other = Preprocessing.of(target.spec, normalize)
            raise ValueError(f"not written: with --normalize {report.contract.normalize} "
                             f"{scored}, but the torch model scores {100 * accuracy:.2f}% on "
                             f"the same images when it receives {other.describe()}: the "
                             f"weights look trained with --normalize {normalize}; check "
                             "--normalize")


def run_onnx(target: Target, data_dir: str | None = None) -> Path:
    """The run's own export (model.onnx in its folder), made when missing or older than its
    weights."""
    if not target.is_run:
        raise ValueError(f"{target.name} is not a run; export it with `cnnlab export`")
    path = target.folder / layout.ONNX
    if not path.is_file() or path.stat().st_mtime < target.weights_file.stat().st_mtime:
        export_target(target, path, data_dir)
    layout.check_weights_file(path)
    return path

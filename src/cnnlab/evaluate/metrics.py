"""Accuracy over a whole split: top-1, top-k, the confusion matrix and per-class precision,
recall and F1, computed from the logits and printed as a table with the class names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClassificationReport:
    classes: tuple[str, ...]
    confusion: np.ndarray  # [true class, predicted class] counts
    top1: float
    top5: float  # top-min(5, classes): with fewer than 5 classes it is 1.0 by definition
    precision: np.ndarray  # per class; 0 where the class was never predicted
    recall: np.ndarray  # per class; 0 where the class never occurs
    f1: np.ndarray

    @property
    def support(self) -> np.ndarray:
        return self.confusion.sum(axis=1)

    @property
    def images(self) -> int:
        return int(self.confusion.sum())

    def macro(self) -> dict[str, float]:
        """Unweighted means over the classes that occur in the split."""
        present = self.support > 0
        return {name: float(values[present].mean()) if present.any() else 0.0
                for name, values in (("precision", self.precision), ("recall", self.recall),
                                     ("f1", self.f1))}

    def as_dict(self) -> dict:
        return {
            "images": self.images, "top1": self.top1, "top5": self.top5,
            "macro": self.macro(),
            "per_class": [{"class": name, "precision": float(p), "recall": float(r),
                           "f1": float(f), "support": int(s)}
                          for name, p, r, f, s in zip(self.classes, self.precision,
                                                      self.recall, self.f1, self.support,
                                                      strict=True)],
            "confusion": self.confusion.tolist(),
        }

    def text(self) -> str:
        width = max(12, *map(len, self.classes))
        lines = [f"{'class':<{width}}  {'precision':>9}  {'recall':>6}  {'f1':>6}  "
                 f"{'support':>7}"]
        for name, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1,
                                    self.support, strict=True):
            lines.append(f"{name:<{width}}  {p:>9.4f}  {r:>6.4f}  {f:>6.4f}  {s:>7}")
        macro = self.macro()
        lines.append(f"{'macro average':<{width}}  {macro['precision']:>9.4f}  "
                     f"{macro['recall']:>6.4f}  {macro['f1']:>6.4f}  {self.images:>7}")
        lines.append("")
        lines.append(f"top-1 accuracy: {self.top1:.4f}   top-5 accuracy: {self.top5:.4f}   "
                     f"({self.images} images)")
        lines.append("")
        lines.append("confusion matrix (rows: true class; columns: predicted, numbered as "
                     "the rows)")
        # whole names down the side, numbers across: long names neither cut nor misaligned
        digits = len(str(len(self.classes) - 1))
        numbered = [f"{i:>{digits}} {name}" for i, name in enumerate(self.classes)]
        side = max(map(len, numbered))
        cell = max(digits, len(str(self.confusion.max())), 3)
        lines.append(" " * side + "  " + " ".join(f"{i:>{cell}}"
                                                  for i in range(len(self.classes))))
        for name, row in zip(numbered, self.confusion, strict=True):
            lines.append(f"{name:<{side}}  " + " ".join(f"{v:>{cell}}" for v in row))
        return "\n".join(lines) + "\n"


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # A class never predicted (or never present) gets 0, as scikit-learn's zero_division=0.
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)),
                     where=denominator > 0)


PER_CLASS_COLUMNS = ("class", "precision", "recall", "F1", "images")


def per_class_cells(per_class: list[dict]) -> list[tuple]:
    """The per-class table's rows (as `ClassificationReport.as_dict()["per_class"]` holds
    them, in eval.json too), percentages as text: for the report and notebooks."""
    return [(row["class"], f"{100 * row['precision']:.2f}%", f"{100 * row['recall']:.2f}%",
             f"{100 * row['f1']:.2f}%", row["support"]) for row in per_class]


def classification_report(logits: np.ndarray, labels: np.ndarray,
                          classes: tuple[str, ...] | list[str]) -> ClassificationReport:
    logits, labels = np.asarray(logits), np.asarray(labels)
    classes = tuple(classes)
    if logits.ndim != 2 or logits.shape[1] != len(classes):
        raise ValueError(f"logits must have shape (images, {len(classes)}), got "
                         f"{logits.shape}")
    if labels.shape != (len(logits),):
        raise ValueError(f"labels must have shape ({len(logits)},), got {labels.shape}")
    if len(labels) == 0:
        raise ValueError("no images to evaluate")
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ValueError(f"labels must lie in 0..{len(classes) - 1}, got "
                         f"{labels.min()}..{labels.max()}")
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    k = min(5, len(classes))
    # The true class is in the top k when fewer than k classes score strictly higher; ties
    # count in the model's favour only as far as argmax's (first index) rule would.
    true_score = logits[np.arange(len(labels)), labels][:, None]
    higher = (logits > true_score).sum(axis=1)
    tied_before = ((logits == true_score) & (np.arange(len(classes)) < labels[:, None])).sum(1)
    top5 = float(np.mean(higher + tied_before < k))
    hits = np.diag(confusion).astype(float)
    precision = _ratio(hits, confusion.sum(axis=0).astype(float))
    recall = _ratio(hits, confusion.sum(axis=1).astype(float))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return ClassificationReport(classes, confusion, float(hits.sum() / len(labels)), top5,
                                precision, recall, f1)

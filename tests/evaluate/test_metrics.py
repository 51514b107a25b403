"""Accuracy metrics against hand-worked figures and against torch's own top-k."""

import numpy as np
import pytest
import torch

from cnnlab.evaluate.metrics import classification_report

CLASSES = ("cat", "dog", "bird")


def _one_hot_logits(predicted, classes=3):
    logits = np.zeros((len(predicted), classes))
    logits[np.arange(len(predicted)), predicted] = 1.0
    return logits


def test_a_hand_worked_example():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 1, 0, 2, 2, 1])
    report = classification_report(_one_hot_logits(predicted), labels, CLASSES)
    assert report.confusion.tolist() == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert report.top1 == pytest.approx(0.7)
    # cat: predicted 4 times, 3 right; present 4 times. dog: predicted 4, 2 right; present 3.
    np.testing.assert_allclose(report.precision, [3 / 4, 2 / 4, 2 / 2])
    np.testing.assert_allclose(report.recall, [3 / 4, 2 / 3, 2 / 3])
    np.testing.assert_allclose(report.f1, [0.75, 2 * (0.5 * 2 / 3) / (0.5 + 2 / 3), 0.8])
    assert report.support.tolist() == [4, 3, 3]
    assert report.top5 == 1.0  # fewer than five classes: every label is in the top three
    macro = report.macro()
    assert macro["recall"] == pytest.approx((3 / 4 + 2 / 3 + 2 / 3) / 3)


def test_top1_and_top5_agree_with_torch_topk():
    generator = np.random.default_rng(0)
    logits = generator.normal(size=(500, 10)).astype(np.float32)
    labels = generator.integers(0, 10, size=500)
    report = classification_report(logits, labels, [str(i) for i in range(10)])
    top = torch.topk(torch.from_numpy(logits), 5, dim=1).indices.numpy()
    assert report.top1 == pytest.approx(np.mean(top[:, 0] == labels))
    assert report.top5 == pytest.approx(np.mean((top == labels[:, None]).any(axis=1)))
    predicted = logits.argmax(1)
    for c in range(10):
        tp = np.sum((predicted == c) & (labels == c))
        assert report.precision[c] == pytest.approx(tp / np.sum(predicted == c))
        assert report.recall[c] == pytest.approx(tp / np.sum(labels == c))
    assert report.confusion.sum() == 500 and np.trace(report.confusion) == np.sum(
        predicted == labels)


def test_ties_follow_argmax_so_top1_and_the_confusion_matrix_agree():
    logits = np.zeros((10, 10))  # every class ties: argmax picks class 0
    labels = np.arange(10)
    report = classification_report(logits, labels, [str(i) for i in range(10)])
    assert report.top1 == pytest.approx(0.1) == np.trace(report.confusion) / 10
    assert report.top5 == pytest.approx(0.5)  # classes 0..4 come first among equals


def test_a_class_never_predicted_scores_zero_not_nan():
    report = classification_report(_one_hot_logits([0, 0, 1]), np.array([0, 2, 1]), CLASSES)
    assert report.precision[2] == 0 and report.recall[2] == 0 and report.f1[2] == 0
    assert not np.isnan(report.f1).any()
    assert "bird" in report.text() and "macro average" in report.text()


@pytest.mark.parametrize(("logits", "labels", "message"), [
    (np.zeros((4, 2)), np.zeros(4, dtype=int), "logits must have shape (images, 3)"),
    (np.zeros((4, 3)), np.zeros(3, dtype=int), "labels must have shape (4,)"),
    (np.zeros((2, 3)), np.array([0, 3]), "labels must lie in 0..2"),
    (np.zeros((0, 3)), np.zeros(0, dtype=int), "no images"),
])
def test_bad_input_names_what_was_expected(logits, labels, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        classification_report(logits, labels, CLASSES)


def test_the_confusion_matrix_keeps_whole_names_and_aligns_its_columns():
    classes = ("T-shirt/top", "Ankle boot", "a class with a long name")
    logits = np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 1]]
    report = classification_report(logits, np.array([0, 1, 2, 1, 1]), classes)
    text = report.text()
    matrix = text.split("confusion matrix")[1].splitlines()[2:]
    assert [line.split("  ")[0].strip() for line in matrix] == [
        "0 T-shirt/top", "1 Ankle boot", "2 a class with a long name"]
    assert [line.split()[-3:] for line in matrix] == [["1", "0", "0"], ["0", "2", "1"],
                                                      ["0", "0", "1"]]
    assert len({len(line) for line in matrix}) == 1  # every row ends where the header does
    assert len(text.split("confusion matrix")[1].splitlines()[1]) == len(matrix[0])

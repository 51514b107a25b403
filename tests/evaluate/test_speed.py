"""The speed protocol on a simulated clock: every figure is exact, so the arithmetic (partial
last batch, percentiles, the interleaved reference and its ratio) is checked to the digit."""

import numpy as np
import pytest

from cnnlab.evaluate.speed import measure, spread, to_batches


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _model(clock, seconds_per_image, calls, name):
    def predict(batch):
        calls.append((name, len(batch)))
        clock.now += seconds_per_image * len(batch)
        return np.full((len(batch), 2), float(batch[0, 0, 0, 0]))

    return predict


def _pixels(count):
    return np.arange(count, dtype=np.float32).reshape(count, 1, 1, 1)


def test_the_partial_last_batch_counts_the_images_it_has():
    clock, calls = Clock(), []
    report = measure(_model(clock, 0.001, calls, "m"), _pixels(10), engine="torch", threads=1,
                     repeats=3, warmup_batches=2, warmup_seconds=0, clock=clock)
    assert (report.images, report.batches) == (10, 3)  # 4 + 4 + 2
    assert report.images_per_second == pytest.approx([1000.0] * 3)  # not 12 / 0.012
    summary = report.summary()
    assert summary["ms_per_batch"]["p50"] == pytest.approx(4.0)
    assert summary["ms_per_batch"]["p99"] == pytest.approx(4.0)
    assert sorted(report.batch_seconds) == pytest.approx([0.002] * 3 + [0.004] * 6)
    assert calls[:2] == [("m", 4), ("m", 4)]  # the warm-up, untimed
    assert len(calls) == 2 + 3 * 3


def test_percentiles_and_spread_come_from_every_timed_batch():
    clock, durations = Clock(), iter([0.0] * 1 + [0.001 * k for k in range(1, 101)])

    def predict(batch):
        clock.now += next(durations)
        return batch

    report = measure(predict, _pixels(400), engine="onnx", threads=2, repeats=1,
                     warmup_batches=1, warmup_seconds=0, clock=clock)
    ms = report.summary()["ms_per_batch"]
    assert ms["p50"] == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert ms["p90"] == pytest.approx(np.percentile(np.arange(1, 101), 90))
    assert ms["p99"] == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert spread([90, 100, 110]) == pytest.approx(0.2)


def test_the_reference_runs_interleaved_abba_and_the_ratio_is_exact():
    clock, calls = Clock(), []
    model = _model(clock, 0.001, calls, "model")  # 4 ms per batch of 4
    reference = _model(clock, 0.00025, calls, "ref")  # 1 ms per batch of 4
    report = measure(model, _pixels(24), engine="torch", threads=1, repeats=2,
                     reference=("lenet5", reference, _pixels(40)), warmup_batches=1,
                     warmup_seconds=0, segment_seconds=0.008, clock=clock)
    timed = calls[2:]  # one warm-up batch each
    # Segments of 2 model batches (8 ms), each matched by 8 reference batches (8 ms); the
    # reference goes after the first segment, before the second, after the third, ...
    first_repeat = timed[: 3 * (2 + 8)]
    names = [name for name, _ in first_repeat]
    assert names == ["model"] * 2 + ["ref"] * 8 + ["ref"] * 8 + ["model"] * 2 \
        + ["model"] * 2 + ["ref"] * 8
    assert report.images_per_second == pytest.approx([1000.0, 1000.0])
    assert report.reference_images_per_second == pytest.approx([4000.0, 4000.0])
    assert report.summary()["reference"]["ratio"] == pytest.approx(0.25)
    assert report.summary()["reference"]["ratio_spread"] == pytest.approx(0.0)


def test_a_burst_of_noise_moves_the_raw_figure_but_not_the_ratio():
    clock, calls = Clock(), []
    model = _model(clock, 0.001, calls, "model")

    def noisy(batch):  # the machine is busy elsewhere for one model segment of the pass
        model(batch)
        if 1 <= sum(name == "model" for name, _ in calls) - 1 <= 2:
            clock.now += 0.040
        return batch

    report = measure(noisy, _pixels(40), engine="torch", threads=1, repeats=1,
                     reference=("lenet5", _model(clock, 0.00025, calls, "ref"), _pixels(40)),
                     warmup_batches=1, warmup_seconds=0, segment_seconds=0.008, clock=clock)
    assert report.images_per_second[0] < 700  # 40 images in 40 ms plus the 80 ms burst
    assert report.ratio == pytest.approx(0.25)  # four of five segments untouched


def test_the_first_timed_pass_keeps_the_outputs_in_order():
    clock, kept = Clock(), []
    pixels = _pixels(10)
    measure(_model(clock, 0.001, [], "m"), pixels, engine="torch", threads=1, repeats=3,
            warmup_batches=1, warmup_seconds=0, clock=clock, keep=kept)
    assert len(kept) == 3
    assert np.concatenate(kept)[:, 0].tolist() == [0, 0, 0, 0, 4, 4, 4, 4, 8, 8]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="no images to time"):
        to_batches(np.zeros((0, 1, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        measure(lambda b: b, _pixels(4), engine="torch", threads=1, repeats=0)


class AsyncDevice:
    """A GPU on the simulated clock: a call only queues its work (as a CUDA kernel launch
    returns at once); the work takes clock time when the device is synchronised. Batches must
    have been put on the device (`prepare`) and logits come back through `numpy`."""

    device = "cuda:0"

    def __init__(self, clock, seconds_per_image):
        self.clock, self.seconds_per_image = clock, seconds_per_image
        self.queued, self.log = 0.0, []

    def prepare(self, pixels):
        self.log.append("prepare")
        return ("on device", pixels)

    def __call__(self, batch):
        where, pixels = batch
        assert where == "on device", "a batch was timed before it was put on the device"
        self.log.append("call")
        self.queued += self.seconds_per_image * len(pixels)
        return ("on device", np.full((len(pixels), 2), float(pixels[0, 0, 0, 0])))

    def synchronize(self):
        self.log.append("sync")
        self.clock.now += self.queued
        self.queued = 0.0

    def numpy(self, output):
        self.log.append("numpy")
        return output[1]


def test_on_a_device_the_batches_go_there_first_and_every_timed_batch_is_synchronised():
    clock, kept = Clock(), []
    device = AsyncDevice(clock, 0.001)
    report = measure(device, _pixels(10), engine="torch", threads=1, repeats=2,
                     warmup_batches=1, warmup_seconds=0, clock=clock, keep=kept)
    # without a synchronisation after each call the clock would read zero work
    assert report.images_per_second == pytest.approx([1000.0, 1000.0])
    assert sorted(report.batch_seconds) == pytest.approx([0.002] * 2 + [0.004] * 4)
    assert report.summary()["device"] == "cuda:0"
    first_call = device.log.index("call")
    assert device.log[:first_call] == ["prepare"] * 3 + ["sync"]  # all three batches first
    calls = [i for i, entry in enumerate(device.log) if entry == "call"]
    assert all(device.log[i - 1] == "sync" and device.log[i + 1] == "sync" for i in calls)
    # the logits leave the device after the clock stops, in order
    assert device.log[-3:] == ["numpy"] * 3
    assert np.concatenate(kept)[:, 0].tolist() == [0, 0, 0, 0, 4, 4, 4, 4, 8, 8]

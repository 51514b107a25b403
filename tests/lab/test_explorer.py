"""The network explorer, against the real server on loopback and a LeNet-5 trained on the real
Fashion-MNIST: every figure it answers is checked against a computation made here directly on
the model (torch autograd for Grad-CAM and saliency, a forward pass for the maps, an
independent prediction of the test set for the confusion matrix)."""

import base64
import io
import json
import re
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import datasets
from cnnlab.evaluate.targets import load_target
from cnnlab.lab.explorer import Explorer
from cnnlab.lab.uploads import MAX_BYTES
from cnnlab.viz.attribution import attribute
from cnnlab.viz.features import signed_grey
from cnnlab.viz.kernels import kernel_grid
from tests.browser import chromium_page, loopback

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def lab(trained_run):
    from cnnlab.lab.app import create_app

    explorer = Explorer([str(trained_run)])
    with loopback(create_app(explorer)) as url:
        yield url, explorer


def call(url: str, data: bytes | None = None, content_type: str = "image/png"):
    """(status, JSON answer) of a GET, or of a POST of `data`."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else
                                     "GET", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def pixels_of(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def received(target, index):
    images, labels = datasets.load(target.spec, allow_download=False)["test"]
    unit = torch.from_numpy(images[index:index + 1]).float() / 255
    return (unit - target.spec.mean[0]) / target.spec.std[0], int(labels[index])


def test_grad_cam_and_saliency_equal_a_direct_autograd_computation(lab, trained_run):
    url, _ = lab
    target = load_target(str(trained_run))
    model = target.build()
    x, label = received(target, 7)
    x.requires_grad_(True)
    maps = model[:6](x)  # LeNet-5 up to its second pooling: the last layer with positions
    logits = model[6:](maps)
    for chosen in (None, 3):
        status, answer = call(f"{url}/api/explorer/lenet5/attribution?image=test:7"
                              + (f"&class={chosen}" if chosen is not None else ""))
        assert status == 200, answer
        expected_class = int(logits.argmax()) if chosen is None else chosen
        assert answer["class"] == expected_class and answer["layer"] == "5"
        grad_maps, grad_x = torch.autograd.grad(logits[0, expected_class], [maps, x],
                                                retain_graph=True)
        weights = grad_maps[0].mean(dim=(1, 2))
        cam = torch.relu((weights[:, None, None] * maps[0]).sum(0)).detach().numpy()
        np.testing.assert_allclose(answer["cam"], cam, atol=1e-5)
        saliency = grad_x[0].abs().amax(0).numpy()
        drawn = pixels_of(answer["saliency_png"])[..., 0]
        np.testing.assert_allclose(drawn, np.rint(255 * saliency / saliency.max()), atol=1)
        np.testing.assert_allclose(answer["probabilities"],
                                   torch.softmax(logits[0], 0).detach().numpy(), atol=1e-5)
    assert answer["true"] == label


def test_grad_cam_is_the_same_on_the_scratch_engine(trained_run):
    target = load_target(str(trained_run))
    x, _ = received(target, 11)
    on_torch = attribute(target.build(), x[0].numpy(), 4)
    on_scratch = attribute(target.build("scratch"), x[0].numpy(), 4)
    np.testing.assert_allclose(on_scratch.cam, on_torch.cam, atol=1e-5)
    np.testing.assert_allclose(on_scratch.saliency, on_torch.saliency, atol=1e-5)
    np.testing.assert_allclose(on_scratch.logits, on_torch.logits, atol=1e-4)


def test_feature_maps_of_any_stage_are_the_model_s_own_values(lab, trained_run):
    url, _ = lab
    model = load_target(str(trained_run)).build()
    x, _ = received(load_target(str(trained_run)), 5)
    with torch.no_grad():
        conv2 = model[:4](x)[0].numpy()
    status, answer = call(f"{url}/api/explorer/lenet5/features?image=test:5&stage=RELU2")
    assert status == 200, answer
    assert answer["stage"] == {"index": 4, "label": "RELU2", "module": "4", "kind": "relu",
                               "what": "ReLU: input | output", "shape": [16, 10, 10]}
    assert len(answer["tiles"]) == 16
    for tile in answer["tiles"]:
        before, after = conv2[tile["channel"]], np.maximum(conv2[tile["channel"]], 0)
        assert tile["before_min"] == pytest.approx(before.min(), abs=1e-5)
        assert tile["max"] == pytest.approx(after.max(), abs=1e-5)
        magnitude = np.abs(before).max()
        for key, values in (("before", before), ("output", after)):
            drawn = pixels_of(tile[key])[..., 0].astype(int)
            assert np.abs(drawn - np.rint(255 * signed_grey(values, magnitude))).max() <= 1
    assert sum(answer["probabilities"]) == pytest.approx(1, abs=1e-5)


def test_the_kernels_of_any_convolution_not_only_the_first(lab, trained_run):
    url, _ = lab
    status, answer = call(f"{url}/api/explorer/lenet5/kernels?layer=2")
    assert status == 200, answer
    assert answer["label"] == "CONV2 (3)" and answer["shape"] == [16, 6, 5, 5]
    assert "16 kernels of 5x5x6" in answer["title"]
    assert answer["shown"] == 16
    weight = load_target(str(trained_run)).build()[3].weight.detach().numpy()
    drawn = kernel_grid(weight, "CONV2 (3) of lenet5")  # CONV2's own weights, all 16 kernels
    np.testing.assert_array_equal(pixels_of(answer["png"]), np.asarray(drawn.image))


def test_the_confusion_matrix_and_its_cells_match_an_independent_prediction(lab, trained_run):
    url, _ = lab
    target = load_target(str(trained_run))
    model = target.build()
    images, labels = datasets.load(target.spec, allow_download=False)["test"]
    x = (torch.from_numpy(images).float() / 255 - target.spec.mean[0]) / target.spec.std[0]
    with torch.no_grad():
        predicted = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)]).argmax(1)
    predicted = predicted.numpy()
    expected = np.zeros((10, 10), int)
    np.add.at(expected, (labels, predicted), 1)
    status, answer = call(f"{url}/api/explorer/lenet5/confusion")
    assert status == 200, answer
    assert answer["confusion"] == expected.tolist()
    assert answer["accuracy"] == pytest.approx(np.trace(expected) / len(labels))
    true, guess = np.unravel_index(np.argmax(expected - np.diag(np.diag(expected))), (10, 10))
    status, cell = call(f"{url}/api/explorer/lenet5/gallery?true={true}&predicted={guess}"
                        "&limit=200")
    assert cell["total"] == expected[true, guess]
    assert [item["index"] for item in cell["items"]] == \
        np.flatnonzero((labels == true) & (predicted == guess))[:200].tolist()
    status, wrong = call(f"{url}/api/explorer/lenet5/gallery?wrong=1&limit=5")
    assert wrong["total"] == len(labels) - np.trace(expected)
    assert all(item["true"] != item["predicted"] for item in wrong["items"])


def photo(width=90, height=60) -> bytes:
    """A dark garment-like block on a light background, as a phone picture of one would be."""
    pixels = np.full((height, width, 3), 235, np.uint8)
    pixels[10:50, 35:55] = (40, 30, 20)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_upload_is_converted_as_it_says_and_kept_in_memory_only(lab, trained_run,
                                                                   tmp_path, monkeypatch):
    url, _ = lab
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in trained_run.iterdir())
    status, answer = call(f"{url}/api/explorer/lenet5/upload", photo())
    assert status == 200, answer
    steps = " | ".join(answer["conversion"])
    assert "received a 90x60 PNG in RGB" in steps and "made grey" in steps
    assert "cropped to its centre, 60x60" in steps and "resized from 60x60 to 28x28" in steps
    assert "inverted" in steps  # a light background, and Fashion-MNIST's is black
    expected = Image.fromarray(np.asarray(Image.open(io.BytesIO(photo())))).convert("L")
    expected = 255 - np.asarray(expected.crop((15, 0, 75, 60)).resize((28, 28),
                                                                       Image.LANCZOS))
    np.testing.assert_array_equal(pixels_of(answer["png"])[..., 0], expected)
    status, features = call(f"{url}/api/explorer/lenet5/features?image={answer['source']}")
    assert status == 200 and features["image"]["source"] == answer["source"]
    assert features["true"] is None
    status, kept = call(f"{url}/api/explorer/lenet5/upload?invert=no", photo())
    assert "inverted" not in " | ".join(kept["conversion"])
    assert sorted(p.name for p in trained_run.iterdir()) == before
    assert list(tmp_path.iterdir()) == []


def huge_png(side=6000) -> bytes:
    """A valid PNG that declares side x side pixels in a few kilobytes."""
    def chunk(kind, body):
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    rows = zlib.compress(b"\0" * (side + 1) * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("data, message", [
    (b"", "the upload is empty"),
    (b"name,score\nada,3\n", "not an image the lab can read"),
    (photo()[:200], "could not be decoded"),
    (huge_png(), "6000x6000 pixels (36 megapixels)"),
    (b"\0" * (MAX_BYTES + 10), "larger than 8 MiB"),
])
def test_a_bad_upload_gets_one_clear_message_and_the_server_keeps_serving(lab, data, message):
    url, _ = lab
    status, answer = call(f"{url}/api/explorer/lenet5/upload", data)
    assert status == 400 and message in answer["detail"], answer
    status, _ = call(f"{url}/api/explorer/lenet5/features?image=test:0")
    assert status == 200


@pytest.mark.parametrize("path, status, message", [
    ("/api/explorer/resnet99", 404, "no model 'resnet99' in this lab (its models: lenet5)"),
    ("/api/explorer/lenet5/features?image=test:10000", 400,
     "image: expected a number from 0 to 9999, got 10000"),
    ("/api/explorer/lenet5/features?image=photo.png", 400, "expected test:N"),
    ("/api/explorer/lenet5/features?stage=CONV9", 400, "this model's stages are CONV1, RELU1"),
    ("/api/explorer/lenet5/features?image=upload:gone", 400, "upload the image again"),
    ("/api/explorer/lenet5/kernels?layer=7", 400, "give a number from 1 to 2"),
    ("/api/explorer/lenet5/attribution?class=10", 400, "class: expected a number from 0 to 9"),
    ("/api/explorer/lenet5/attribution?layer=8", 400, "Grad-CAM takes one of 0, 1, 2, 3, 4, 5"),
    ("/api/explorer/lenet5/gallery?limit=100000", 400, "limit: expected a number from 1"),
])
def test_bad_requests_name_what_was_wrong(lab, path, status, message):
    url, _ = lab
    got, answer = call(url + path)
    assert got == status and message in answer["detail"], answer


def test_a_zoo_model_and_two_runs_of_one_name_get_their_own_ids(trained_run):
    zoo = load_target("lenet5", "fashion-mnist", normalize="dataset")
    explorer = Explorer([str(trained_run), str(trained_run), zoo])
    assert list(explorer.models) == ["lenet5", "lenet5-2", "lenet5-3"]
    assert explorer.get("lenet5-3").listing()["weights"] == "initial (random) weights"
    with pytest.raises(ValueError, match=r"an \.onnx file cannot be looked into"):
        Explorer(["model.onnx"])


def test_the_explorer_in_chromium(lab, tmp_path):
    expect = pytest.importorskip("playwright.sync_api").expect
    url, explorer = lab
    counts = explorer.get("lenet5").confusion()["confusion"]
    upload = tmp_path / "shirt.png"
    upload.write_bytes(photo())
    errors: list[str] = []
    with chromium_page(errors) as page:
        page.goto(f"{url}/explorer?image=test:3")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page.locator("#image-caption")).to_have_text(
            "fashion-mnist test image 3: Trouser")
        expect(page.locator("#tiles figure")).to_have_count(6)  # CONV1's 6 maps
        expect(page.locator("#kernels-box")).to_be_visible()
        page.locator('#table tr[data-stage="CONV2"]').click()
        expect(page.locator("#stage-title")).to_contain_text("CONV2 (3)")
        expect(page.locator("#tiles figure")).to_have_count(16)
        expect(page.locator("#kernels-note")).to_contain_text("16 kernels of 5x5x6")
        assert "stage=CONV2" in page.url
        page.locator('#table tr[data-stage="RELU1"]').click()
        expect(page.locator("#tiles img.before")).to_have_count(6)
        expect(page.locator("#kernels-box")).to_be_hidden()
        page.select_option("#cam-class", "8")
        expect(page.locator("#cam-caption")).to_contain_text("for Bag")
        maps = page.locator("#tiles img.output").first.get_attribute("src")
        page.set_input_files("#upload", str(upload))
        expect(page.locator("#current-image")).to_have_attribute("data-source",
                                                                 re.compile("^upload:"))
        expect(page.locator("#conversion li")).to_contain_text(["received a 90x60 PNG"])
        expect(page.locator("#original")).to_be_visible()
        expect(page.locator("#image-caption")).to_have_text("your image, as the model sees it")
        expect(page.locator("#tiles img.output")).to_have_count(6)
        assert page.locator("#tiles img.output").first.get_attribute("src") != maps
        page.click("#compute")
        expect(page.locator("#test-summary")).to_contain_text("misclassified")
        expect(page.locator("#confusion td")).to_have_count(100)
        page.locator('#confusion td[data-true="0"][data-predicted="6"] button').click()
        expect(page.locator("#gallery-title")).to_contain_text(
            f"{counts[0][6]} test images of T-shirt/top predicted as Shirt")
        expect(page.locator("#gallery figure")).to_have_count(min(60, counts[0][6]))
        first = page.locator("#gallery figure").first
        index = first.get_attribute("data-index")
        first.click()
        expect(page.locator("#image-caption")).to_have_text(
            f"fashion-mnist test image {index}: T-shirt/top")
        page.goto(f"{url}/explorer?model=resnet99")
        expect(page.locator("#error")).to_have_text(
            "no model 'resnet99' in this lab: showing lenet5 (its models: lenet5)")
        expect(page.locator("#tiles figure")).to_have_count(6)
        page.goto(f"{url}/explorer?image=test:99999")
        expect(page.locator("#error")).to_have_text(
            "image: expected a number from 0 to 9999, got 99999")
    assert errors == [] or all("400" in error for error in errors), errors


def test_a_resnet_s_grad_cam_weighs_its_last_block_output_on_both_engines():
    """ResNet-20 calls each block's ReLU twice, the second time in place after the residual
    sum: each call is a layer of its own, and Grad-CAM's default is that last call, the output
    of layer3, as computed here from a hook on layer3 itself."""
    from cnnlab.models.build import on_engine

    target = load_target("resnet20", "fashion-mnist", normalize="dataset")
    model = target.build()
    x = np.random.default_rng(0).standard_normal((1, 28, 28)).astype(np.float32)
    found = attribute(model, x, 3)
    assert found.layer == "layer3.2.relu (2nd call)"
    kept = {}
    handle = model.layer3.register_forward_hook(lambda _m, _i, output: kept.update(a=output))
    logits = model(torch.from_numpy(x[None]))
    handle.remove()
    gradient, = torch.autograd.grad(logits[0, 3], [kept["a"]])
    weights = gradient[0].mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * kept["a"][0]).sum(0)).detach().numpy()
    np.testing.assert_allclose(found.cam, cam, atol=1e-6)
    twin = on_engine(model, "resnet20", (1, 28, 28), 10, "scratch").eval()
    on_scratch = attribute(twin, x, 3)
    np.testing.assert_allclose(on_scratch.cam, found.cam, atol=1e-5)
    np.testing.assert_allclose(on_scratch.saliency, found.saliency, atol=1e-5)


def test_a_lab_started_without_models_says_how_to_add_some():
    from cnnlab.lab.app import create_app

    with loopback(create_app()) as url:
        assert call(f"{url}/api/explorer") == (200, {"models": []})
        assert call(f"{url}/api/runs") == (200, {"runs": [], "header": [], "cells": []})
        status, answer = call(f"{url}/api/runs/pareto")
        assert status == 400 and "holds no run folder" in answer["detail"]
        with urllib.request.urlopen(f"{url}/", timeout=30) as response:
            assert response.url.endswith("/playground")
        errors: list[str] = []
        with chromium_page(errors) as page:
            page.goto(f"{url}/explorer")
            # shown by the page's script once it has asked for the models: waited for, since
            # under load the first look can come before the answer
            page.locator("#no-models").wait_for(state="visible", timeout=30_000)
            assert "cnnlab lab runs/lenet5" in page.locator("#no-models").inner_text()
        assert errors == []

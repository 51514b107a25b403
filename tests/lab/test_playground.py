"""The playground: its API against torch and `cnnlab shapes conv`, its page in real Chromium."""

import numpy as np
import pytest
import torch

from cnnlab.arithmetic.explain import explain
from cnnlab.lab.playground import compute
from cnnlab.viz.gallery import COURSE_INPUT, COURSE_KERNEL, WORKED_INPUT
from tests.browser import chromium_page, loopback


def test_a_rectangular_strided_dilated_layer_computes_what_torch_computes():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (6, 7)).astype(float)
    w = rng.integers(-2, 3, (3, 2)).astype(float)
    text = lambda a: "/".join(",".join(str(int(v)) for v in row) for row in a)  # noqa: E731
    answer = compute({"input": "6x7", "kernel": "3x2", "stride": "2x1", "padding": "1x0",
                      "dilation": "1x2", "x": text(x), "w": text(w)})
    expected = torch.nn.functional.conv2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None],
                                          stride=(2, 1), padding=(1, 0), dilation=(1, 2))[0, 0]
    np.testing.assert_allclose(answer["drawing"]["output"], expected.numpy())
    assert answer["explanation"]["output"] == list(expected.shape)


def test_same_padding_with_an_even_kernel_pads_the_far_side_as_torch():
    x = np.arange(25.0).reshape(5, 5)
    answer = compute({"input": "5", "kernel": "4", "padding": "same",
                      "x": "/".join(",".join(str(int(v)) for v in row) for row in x),
                      "w": "/".join(["1,0,0,1"] * 4)})
    expected = torch.nn.functional.conv2d(torch.tensor(x)[None, None],
                                          torch.tensor([[1.0, 0, 0, 1]] * 4,
                                                       dtype=torch.float64)[None, None],
                                          padding="same")[0, 0]
    np.testing.assert_allclose(answer["drawing"]["output"], expected.numpy())
    assert "1 before and 2 after" in answer["text"]


def test_the_course_examples_give_their_published_outputs():
    conv = compute({"input": "5", "kernel": "3", "x": COURSE_INPUT, "w": COURSE_KERNEL})
    assert conv["drawing"]["output"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    pool = compute({"layer": "pool", "input": "5", "kernel": "3", "stride": "1",
                    "x": WORKED_INPUT})
    assert pool["drawing"]["output"] == [[3, 3, 3], [3, 3, 3], [3, 2, 3]]


def test_parameters_and_multiply_adds_of_a_grouped_convolution():
    facts = compute({"input": "32", "kernel": "3", "padding": "1", "in_channels": "8",
                     "out_channels": "16", "groups": "4"})["explanation"]
    layer = torch.nn.Conv2d(8, 16, 3, padding=1, groups=4)
    assert facts["params"] == sum(p.numel() for p in layer.parameters())
    assert facts["macs"] == 16 * (8 // 4) * 9 * 32 * 32


def test_an_impossible_layer_gets_the_shapes_conv_sentence():
    with pytest.raises(ValueError) as expected:
        explain((3, 3), 5)
    with pytest.raises(ValueError) as given:
        compute({"input": "3", "kernel": "5"})
    assert str(given.value) == str(expected.value)


@pytest.mark.browser
def test_the_playground_in_chromium():
    expect = pytest.importorskip("playwright.sync_api").expect
    errors = []
    from cnnlab.lab.app import create_app

    with loopback(create_app()) as url, chromium_page(errors) as page:
        page.goto(f"{url}/playground")
        page.wait_for_selector("body[data-state=ready]")
        assert page.inner_text("#output-size") == "3x3"
        page.fill("#stride", "2")
        expect(page.locator("#output-size")).to_have_text("2x2")
        assert "floor((5 + 2*0 - 1*(3-1) - 1)/2) + 1" in page.inner_text("#formula")
        assert page.locator("#output rect").count() == 4
        assert "stride=2" in page.url  # the URL holds the state
        before = sorted(page.eval_on_selector_all(
            "#taps rect", "r => r.map(e => e.dataset.row + ',' + e.dataset.col)"))
        page.click("#step")
        after = sorted(page.eval_on_selector_all(
            "#taps rect", "r => r.map(e => e.dataset.row + ',' + e.dataset.col)"))
        assert before != after and len(after) == 9
        assert [int(c.split(",")[1]) for c in after] == [int(c.split(",")[1]) + 2
                                                         for c in before]
        page.fill("#kernel", "7")
        page.wait_for_selector("#error:not([hidden])")
        with pytest.raises(ValueError) as expected:
            explain((5, 5), 7, 2)
        assert page.inner_text("#error") == str(expected.value)
        page.click("#example-course-conv")
        expect(page.locator("#output-size")).to_have_text("3x3")
        page.click("#last")
        assert [page.text_content(f"#output text[data-out-row='{r}'][data-out-col='{c}']")
                for r in range(3) for c in range(3)] == list("434243234")
        page.click("#example-course-pool")
        expect(page.locator("#output-size")).to_have_text("3x3")
        page.click("#last")
        expect(page.locator("#output text[data-out-row='2'][data-out-col='1']")).to_have_text("2")
        assert [page.text_content(f"#output text[data-out-row='{r}'][data-out-col='{c}']")
                for r in range(3) for c in range(3)] == list("333333323")
    # the refused layer's 400 is the one answer Chromium reports; nothing else may fail
    assert [e for e in errors if "status of 400" not in e] == []

"""`cnnlab lab RUN ...` as a user starts it: a real process that says where it listens and
serves the explorer of the runs named; a model it cannot look into is refused before it
listens."""

import json
import re
import subprocess
import sys
import urllib.request

import pytest

pytest.importorskip("fastapi")


def test_the_lab_serves_the_runs_it_was_started_with(trained_run):
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "lab", str(trained_run),
                                "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[0].startswith(f"cnnlab lab: loading {trained_run} (lenet5 on "
                                   "fashion-mnist)")
        url = re.search(r"open (http://127\.0\.0\.1:\d+)/", lines[1]).group(1)
        with urllib.request.urlopen(f"{url}/api/explorer", timeout=30) as response:
            models = json.loads(response.read())["models"]
        assert [(m["id"], m["path"]) for m in models] == [("lenet5", str(trained_run))]
        with urllib.request.urlopen(f"{url}/", timeout=30) as response:
            assert response.url.endswith("/explorer")  # with models, the lab opens on them
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_onnx_file_or_a_missing_run_is_refused_before_listening(tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"not read")
    for given, message in ((onnx, "an .onnx file cannot be looked into layer by layer"),
                           (tmp_path / "nowhere", "does not exist")):
        finished = subprocess.run([sys.executable, "-m", "cnnlab", "lab", str(given),
                                   "--port", "0"], capture_output=True, text=True, timeout=120)
        assert finished.returncode == 2 and message in finished.stderr, finished.stderr
        assert "open http" not in finished.stdout

"""What a speed figure was measured on, recorded next to it."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata

import torch

from cnnlab.models.engines import device_name


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(engine: str, threads: int, device: torch.device | str | None = None) -> dict:
    device = torch.device(device if device is not None else "cpu")
    return {
        "engine": engine,
        "threads": threads,
        "device": str(device),
        "device_name": device_name(device) or cpu_model(),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {package: _version(package) for package in
                     ("cnnlab", "numpy", "torch", "onnxruntime", "onnx")},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

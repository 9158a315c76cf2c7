"""Fixtures for the Python package's tests (ctest's PythonPackage test sets the environment:
PYTHONPATH=<build>/python, DETINFER_BIN=<build>/detinfer, DETINFER_MODELS=<source>/models)."""

import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

import detinfer


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (run these tests through ctest: ctest -R PythonPackage)")
    return value


@pytest.fixture(scope="session")
def cli():
    """Runs the built `detinfer` binary; returns its stdout (fails the test on a nonzero exit)."""
    binary = _env("DETINFER_BIN")

    def run(*args):
        r = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, f"detinfer {' '.join(map(str, args))}: {r.stderr}"
        return r.stdout

    return run


@pytest.fixture(scope="session")
def model_dir():
    return os.path.join(_env("DETINFER_MODELS"), "verbs")


@pytest.fixture(scope="session")
def llm(model_dir):
    return detinfer.LLM(model_dir, threads=2)


def read_safetensors(path):
    """{name: array} of an F32 safetensors file (the format's header: u64 length, JSON)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        blob = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


@pytest.fixture(scope="session")
def new_weights(model_dir, tmp_path_factory):
    """A copy of the model with two tensors changed: (directory, {name: new array})."""
    out = tmp_path_factory.mktemp("verbs-updated")
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(model_dir, f), out / f)
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    rng = np.random.default_rng(7)
    changed = {}
    for name in ("model.layers.1.self_attn.q_proj.weight", "model.layers.2.mlp.down_proj.weight"):
        t = tensors[name]
        changed[name] = (t + rng.normal(0.0, 0.05, t.shape)).astype(np.float32)
        tensors[name] = changed[name]
    write_safetensors(out / "model.safetensors", tensors)
    return out, changed

"""A tiny linear model whose parameters are a managed weight.

setup() reads W and b from the safetensors file that the weight "linear"
delivers at its target (see cog.yaml); run() returns W @ x + b. The output
depends on the weight file, so a prediction proves the weights arrived.
"""

import json
import os
import struct

import numpy as np
from cog import BaseRunner, Input

WEIGHTS = "/src/weights/linear/model.safetensors"

_DTYPES = {"F32": "<f4", "F64": "<f8"}


def load_safetensors(path):
    """Read a safetensors file with numpy alone: an 8-byte little-endian
    header length, a JSON header, then the raw tensor bytes."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=_DTYPES[info["dtype"]])
        tensors[name] = array.reshape(info["shape"])
    return tensors


class Runner(BaseRunner):
    def setup(self) -> None:
        path = os.environ.get("LINEAR_WEIGHTS", WEIGHTS)
        t = load_safetensors(path)
        self.w, self.b = t["W"], t["b"]

    def run(
        self,
        x1: float = Input(description="first feature"),
        x2: float = Input(description="second feature"),
        x3: float = Input(description="third feature"),
    ) -> list[float]:
        y = self.w @ np.array([x1, x2, x3], dtype=np.float32) + self.b
        return [float(v) for v in y]

"""Write weights/linear/model.safetensors: the parameters of a tiny linear
model y = W @ x + b (W is 2x3, b has 2 entries), float32 little endian.

The file is committed; this script documents how it was made and makes it
again byte for byte (no randomness, no timestamps). safetensors is an 8-byte
little-endian header length, a JSON header naming each tensor's dtype, shape
and byte range, then the raw tensor bytes.
"""

import json
import os
import struct
import sys

W = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
B = [0.5, -0.5]


def tensor_bytes(values):
    return struct.pack("<%df" % len(values), *values)


def main(path):
    w = tensor_bytes([v for row in W for v in row])
    b = tensor_bytes(B)
    header = {
        "W": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, len(w)]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [len(w), len(w) + len(b)]},
    }
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)  # align the data to 8 bytes
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + w + b)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "weights/linear/model.safetensors")

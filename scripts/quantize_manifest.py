#!/usr/bin/env python3
"""Writes the tensor manifest of a GGUF (order, name, type, shape, n_bytes, sha256 of the data)
as JSON, read with llama.cpp's own gguf-py (independent of ggufembed's reader).

Used to record llama-quantize's output for crates/convert/tests/quantize.rs:
    llama-quantize embeddinggemma-300M-F32.gguf out-Q4_K_M.gguf Q4_K_M
    python3 scripts/quantize_manifest.py out-Q4_K_M.gguf "llama.cpp 0c1e570 llama-quantize Q4_K_M" \
        > tests/data/quantize/manifest_q4_k_m.json
Needs `pip install gguf numpy`.
"""
import hashlib
import json
import sys

import gguf

path, source = sys.argv[1], sys.argv[2]
r = gguf.GGUFReader(path)
ft = r.fields.get("general.file_type")
out = {
    "source": source,
    "file_type": int(ft.contents()) if ft is not None else None,
    "tensors": [
        {
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(x) for x in t.shape],
            "n_bytes": int(t.n_bytes),
            "sha256": hashlib.sha256(t.data.tobytes()).hexdigest(),
        }
        for t in r.tensors
    ],
}
json.dump(out, sys.stdout, indent=1)
print()

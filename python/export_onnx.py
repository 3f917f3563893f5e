#!/usr/bin/env python3
"""Writes an `nsl_dist export` as an ONNX model with torch.onnx.export: input `images` (float32
[batch, C, H, W], already preprocessed: nsl_model.preprocess), output `embedding` (float32
[batch, d], unit rows), the batch dimension dynamic. Checked with onnx.checker when the onnx package
is installed.

    python3 python/export_onnx.py --export runs/demo/export --out model.onnx
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nsl_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", required=True, help="folder written by nsl_dist export")
    parser.add_argument("--out", required=True, help=".onnx file to write")
    parser.add_argument("--opset", type=int, default=14)
    args = parser.parse_args()

    net, info = nsl_model.load_export(args.export)
    shape = (2, info["input"]["channels"], info["input"]["height"], info["input"]["width"])
    tmp = args.out + ".tmp"
    torch.onnx.export(net, torch.zeros(shape), tmp, input_names=["images"],
                      output_names=["embedding"], opset_version=args.opset,
                      dynamic_axes={"images": {0: "batch"}, "embedding": {0: "batch"}})
    try:
        import onnx
    except ImportError:
        print("export_onnx: the onnx package is not installed: the file was not checked",
              file=sys.stderr)
    else:
        onnx.checker.check_model(onnx.load(tmp))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: images [batch, {shape[1]}, {shape[2]}, {shape[3]}] -> embedding "
          f"[batch, {info['architecture']['embedding_dim']}]")


if __name__ == "__main__":
    main()

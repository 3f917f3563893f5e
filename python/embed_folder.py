#!/usr/bin/env python3
"""Embeds every image under a folder with an `nsl_dist export`, the way `nsl_dist prep` +
`nsl_dist embed` would: each file decoded, resized to the stored size, put through the evaluation
transform and the network. Writes an .npz file with `embeddings` (float32 [n, d], unit rows) and
`paths` (relative to the folder, sorted).

    python3 python/embed_folder.py --export runs/demo/export --images photos/ --out photos.npz
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nsl_model  # noqa: E402

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", required=True, help="folder written by nsl_dist export")
    parser.add_argument("--images", required=True, help="folder of images (searched recursively)")
    parser.add_argument("--out", required=True, help=".npz file to write")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    net, info = nsl_model.load_export(args.export)
    paths = sorted(os.path.relpath(os.path.join(d, f), args.images)
                   for d, _, files in os.walk(args.images) for f in files
                   if f.lower().endswith(EXTENSIONS))
    if not paths:
        sys.exit(f"embed_folder: no image files ({', '.join(EXTENSIONS)}) under {args.images}")
    chunks = []
    with torch.no_grad():
        for start in range(0, len(paths), args.batch_size):
            batch = paths[start:start + args.batch_size]
            pixels = np.stack([nsl_model.load_image(os.path.join(args.images, p), info)
                               for p in batch])
            chunks.append(net(nsl_model.preprocess(pixels, info)))
            print(f"embed_folder: {start + len(batch)}/{len(paths)} images", file=sys.stderr)
    embeddings = torch.cat(chunks).numpy()
    tmp = args.out + ".tmp.npz"
    np.savez(tmp, embeddings=embeddings, paths=np.array(paths))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {embeddings.shape[0]} x {embeddings.shape[1]} embeddings")


if __name__ == "__main__":
    main()

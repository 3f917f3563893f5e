"""nsl_dist export read back in Python (ctest label `python`).

Trains tiny runs with the nsl_dist binary (a small CNN and a ResNet-18 on generated gray images, a
ResNet-18 from torchvision weights on RGB images written here), embeds their test splits with
`nsl_dist embed`, exports them, and checks that python/nsl_model.py reproduces the embeddings,
that the embeddings file reads with h5py with the fields the README documents, that the ONNX file
passes onnx.checker, and that the same comparison fails once one exported weight is changed.

    python3 test_export.py NSL_DIST SOURCE_DIR SCRATCH_DIR
"""
import os
import shutil
import subprocess
import sys
import unittest

import h5py
import numpy as np
import torch
import torchvision

NSL_DIST, SOURCE_DIR, SCRATCH = sys.argv[1:4]
del sys.argv[1:4]
sys.path.insert(0, os.path.join(SOURCE_DIR, "python"))
import nsl_model  # noqa: E402

TOLERANCE = 1e-5
IMAGES = 64
# A short run of configs/demo.yaml: what matters is that the weights are trained, not how well.
SHORT = ["--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=3",
         "--set", "train.batch_size=32", "--set", "eval.recall_k=[1]", "--set", "eval.nmi=false"]


def run(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n"
                             f"{r.stdout}\n{r.stderr}")
    return r.stdout


def train_embed_export(name, data, *settings, first_checkpoint=False):
    """Run folder with export/ and test.h5 (its test split embedded by nsl_dist) of the newest
    checkpoint, or of the first one."""
    out = os.path.join(SCRATCH, name)
    run(NSL_DIST, "train", "--config", os.path.join(SOURCE_DIR, "configs/demo.yaml"), "--quiet",
        "--out", out, "--set", f"data.path={data}", *SHORT, *settings)
    checkpoint = out
    if first_checkpoint:
        checkpoint = os.path.join(out, "checkpoints",
                                  sorted(os.listdir(os.path.join(out, "checkpoints")))[0])
    run(NSL_DIST, "embed", "--checkpoint", checkpoint, "--out", os.path.join(out, "test.h5"))
    run(NSL_DIST, "export", "--checkpoint", checkpoint, "--out", os.path.join(out, "export"))
    return out


def change_one_float(path, name, index, delta):
    """Adds delta to element `index` (flat) of tensor `name` inside a .safetensors file, in place:
    the file keeps its size and every other byte."""
    import json
    import struct
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        entry = json.loads(f.read(n))[name]
        assert entry["dtype"] == "F32"
        f.seek(8 + n + entry["data_offsets"][0] + 4 * index)
        (value,) = struct.unpack("<f", f.read(4))
        f.seek(-4, 1)
        f.write(struct.pack("<f", value + delta))


def stored_test_images(data, count):
    """The first `count` images of the test split, uint8 [n, H, W, C], in global index order,
    read from the HDF5 shards with h5py."""
    images, shard = [], 0
    while sum(len(i) for i in images) < count:
        with h5py.File(os.path.join(data, f"test-{shard:05d}.h5"), "r") as f:
            images.append(f["images"][:])
        shard += 1
    return np.concatenate(images)[:count]


def report(what, diff):
    print(f"\n  {what}: max |difference| {diff:.2e}", file=sys.stderr)


def python_embeddings(export, pixels):
    net, info = nsl_model.load_export(export)
    with torch.no_grad():
        return net(nsl_model.preprocess(pixels, info)).numpy()


def nsl_embeddings(run_dir, count):
    with h5py.File(os.path.join(run_dir, "test.h5"), "r") as f:
        assert list(f["indices"][:count]) == list(range(count))
        return f["embeddings"][:count]


def write_rgb_folder(root, classes, per_class, size, seed):
    """classes x per_class PNG files of size x size RGB (gradients and stripes, a colour per
    class), in the folder layout nsl_dist prep --dataset folder reads."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    for c in range(classes):
        folder = os.path.join(root, f"class{c:02d}")
        os.makedirs(folder, exist_ok=True)
        colour = rng.uniform(0.2, 1.0, 3)
        for i in range(per_class):
            period = 3 + (c + i) % 5
            stripes = 0.5 + 0.5 * np.sin((x * (c % 3 + 1) + y * (i % 2 + 1)) * 2 * np.pi / period)
            noise = rng.uniform(0, 0.2, (size, size, 1))
            image = np.clip((stripes[..., None] * colour + noise) * 255, 0, 255).astype(np.uint8)
            Image.fromarray(image, "RGB").save(os.path.join(folder, f"img{i:02d}.png"))


class SmallCnnExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = os.path.join(SCRATCH, "gray")
        run(NSL_DIST, "synth", "--out", cls.data, "--classes", 24, "--images-per-class", 8,
            "--image-size", 32, "--shards", 2, "--seed", 3)
        cls.run_dir = train_embed_export("small_cnn", cls.data, "--set", "model.channels=[16,32]")
        cls.export = os.path.join(cls.run_dir, "export")
        cls.pixels = stored_test_images(cls.data, IMAGES)

    def test_embeddings_match_nsl_embed(self):
        diff = np.abs(python_embeddings(self.export, self.pixels) -
                      nsl_embeddings(self.run_dir, IMAGES)).max()
        report("small CNN, 64 test images, PyTorch against nsl_dist embed", diff)
        self.assertLess(diff, TOLERANCE)

    def test_one_changed_weight_breaks_the_match(self):
        broken = os.path.join(SCRATCH, "small_cnn_broken_export")
        shutil.rmtree(broken, ignore_errors=True)
        shutil.copytree(self.export, broken)
        change_one_float(os.path.join(broken, "model.safetensors"), "backbone.features.0.weight",
                         4, 0.25)
        diff = np.abs(python_embeddings(broken, self.pixels) -
                      nsl_embeddings(self.run_dir, IMAGES)).max()
        report("small CNN with one exported weight changed", diff)
        self.assertGreater(diff, TOLERANCE)

    def test_model_json_and_centers(self):
        info = nsl_model.read_info(self.export)
        self.assertEqual(info["architecture"]["backbone"], "small_cnn")
        self.assertEqual(info["architecture"]["channels"], [16, 32])
        self.assertEqual(info["input"], {**info["input"], "height": 32, "width": 32,
                                         "channels": 1, "pixel_mean": 0.5, "pixel_std": 0.5})
        with h5py.File(os.path.join(self.run_dir, "test.h5"), "r") as f:
            self.assertEqual(info["weights_fnv1a64"], f.attrs["weights_fnv1a64"])
            self.assertEqual(info["config_hash"], f.attrs["config_hash"])
        # The centers against the checkpoint's own archive, read by TorchScript's loader.
        archive = torch.jit.load(os.path.join(info["checkpoint"]["path"], "model.pt"))
        centers = nsl_model.load_centers(self.export)["centers"]
        self.assertEqual(list(centers.shape), [12, 64])
        self.assertTrue(torch.equal(centers, getattr(archive, "loss.centers")))

    def test_embeddings_file_reads_with_h5py(self):
        with h5py.File(os.path.join(self.run_dir, "test.h5"), "r") as f:
            n = f["embeddings"].shape[0]
            self.assertEqual(f["embeddings"].dtype, np.float32)
            self.assertEqual(f["embeddings"].shape, (96, 64))
            self.assertTrue(np.allclose(np.linalg.norm(f["embeddings"][:], axis=1), 1, atol=1e-5))
            for name in ("labels", "indices"):
                self.assertEqual(f[name].dtype, np.int64)
                self.assertEqual(f[name].shape, (n,))
            self.assertEqual(len(f["paths"]), n)
            self.assertEqual(len(f["class_names"]), 12)
            self.assertIsInstance(f["paths"].asstr()[0], str)
            for attr in ("format", "split", "dataset", "checkpoint", "epoch", "step", "global_step",
                         "config_hash", "weights_fnv1a64", "image_size", "channels",
                         "embeddings_fnv1a64"):
                self.assertIn(attr, f.attrs)
            self.assertEqual(f.attrs["split"], "test")
            self.assertEqual(int(f.attrs["image_size"]), 32)

    def test_onnx_passes_the_checker(self):
        import onnx
        out = os.path.join(SCRATCH, "small_cnn.onnx")
        run(sys.executable, os.path.join(SOURCE_DIR, "python/export_onnx.py"),
            "--export", self.export, "--out", out)
        model = onnx.load(out)
        onnx.checker.check_model(model)
        self.assertEqual([i.name for i in model.graph.input], ["images"])
        self.assertEqual([o.name for o in model.graph.output], ["embedding"])

    def test_export_refuses_to_replace_a_foreign_folder(self):
        foreign = os.path.join(SCRATCH, "not_an_export")
        os.makedirs(foreign, exist_ok=True)
        with open(os.path.join(foreign, "notes.txt"), "w") as f:
            f.write("keep me")
        r = subprocess.run([NSL_DIST, "export", "--checkpoint", self.run_dir, "--out", foreign],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not an nsl_dist export", r.stderr + r.stdout)
        self.assertEqual(os.listdir(foreign), ["notes.txt"])


class ResNetExport(unittest.TestCase):
    def test_resnet18_embeddings_match_nsl_embed(self):
        data = os.path.join(SCRATCH, "gray_resnet")
        run(NSL_DIST, "synth", "--out", data, "--classes", 24, "--images-per-class", 8,
            "--image-size", 32, "--shards", 2, "--seed", 5)
        run_dir = train_embed_export("resnet18", data, "--set", "model.backbone=resnet18",
                                     "--set", "model.embedding_dim=32")
        export = os.path.join(run_dir, "export")
        pixels = stored_test_images(data, IMAGES)
        diff = np.abs(python_embeddings(export, pixels) - nsl_embeddings(run_dir, IMAGES)).max()
        report("ResNet-18, 64 test images, PyTorch against nsl_dist embed", diff)
        self.assertLess(diff, TOLERANCE)
        # The export's names and shapes are torchvision's ResNet-18's (conv1 with one input
        # channel here), and the embedding head's names are the documented ones.
        tensors, _ = nsl_model.read_safetensors(os.path.join(export, "model.safetensors"))
        tv = torchvision.models.resnet18()
        tv.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        expected = {k: list(v.shape) for k, v in tv.state_dict().items()
                    if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
        expected.update({"head.weight": [32, 512], "ns.log_scale": [], "centering_mean": [32]})
        self.assertEqual({k: list(v.shape) for k, v in tensors.items()}, expected)

    def test_torchvision_weights_through_model_pretrained(self):
        images = os.path.join(SCRATCH, "rgb_images")
        data = os.path.join(SCRATCH, "rgb")
        shutil.rmtree(images, ignore_errors=True)
        write_rgb_folder(images, classes=12, per_class=12, size=32, seed=7)
        run(NSL_DIST, "prep", "--quiet", "--dataset", "folder", "--root", images, "--out", data,
            "--image-size", 32, "--channels", 3, "--shards", 1)
        torch.manual_seed(11)
        tv = torchvision.models.resnet18().eval()
        # Statistics as a trained network has them, so BatchNorm's running values are exercised.
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        weights = os.path.join(SCRATCH, "torchvision_resnet18.safetensors")
        nsl_model.write_safetensors(weights, tv.state_dict())
        # The backbone frozen in the first of two epochs and BatchNorm in eval mode: the first
        # checkpoint's backbone is the torchvision one; only the head has trained.
        run_dir = train_embed_export(
            "pretrained", data, "--set", "model.backbone=resnet18", "--set", "model.freeze_bn=true",
            "--set", f"model.pretrained={weights}", "--set", "train.epochs=2",
            "--set", "train.freeze_backbone_epochs=1", "--set", "model.embedding_dim=32",
            first_checkpoint=True)
        export = os.path.join(run_dir, "export")
        tensors, _ = nsl_model.read_safetensors(os.path.join(export, "model.safetensors"))
        for name, value in tv.state_dict().items():
            if not name.startswith("fc.") and not name.endswith("num_batches_tracked"):
                self.assertTrue(torch.equal(tensors[name], value), name)
        with h5py.File(os.path.join(run_dir, "test.h5"), "r") as f:
            n = min(IMAGES, f["embeddings"].shape[0])
        pixels = stored_test_images(data, n)
        _, info = nsl_model.load_export(export)
        with torch.no_grad():
            x = nsl_model.preprocess(pixels, info)
            features = torch.flatten(tv.avgpool(tv.layer4(tv.layer3(tv.layer2(tv.layer1(
                tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))), 1)
            raw = features @ tensors["head.weight"].t() - tensors["centering_mean"]
            ours = torch.nn.functional.normalize(raw, dim=1).numpy()
        self.assertEqual(n, IMAGES)
        diff = np.abs(ours - nsl_embeddings(run_dir, n)).max()
        report("torchvision ResNet-18 weights, torchvision forward against nsl_dist embed", diff)
        self.assertLess(diff, TOLERANCE)

        # python/embed_folder.py on the same files (stored at their own size: prep kept them as
        # they are) gives the same rows as nsl_dist embed.
        out = os.path.join(SCRATCH, "folder.npz")
        run(sys.executable, os.path.join(SOURCE_DIR, "python/embed_folder.py"), "--export", export,
            "--images", images, "--out", out)
        folder = np.load(out)
        by_path = {p: e for p, e in zip(folder["paths"], folder["embeddings"])}
        with h5py.File(os.path.join(run_dir, "test.h5"), "r") as f:
            paths = [os.path.relpath(p, images) if os.path.isabs(p) else p
                     for p in f["paths"].asstr()[:]]
            embedded = f["embeddings"][:]
        self.assertGreater(len(paths), 0)
        diff = max(np.abs(by_path[p] - e).max() for p, e in zip(paths, embedded))
        report(f"embed_folder.py on {len(paths)} PNG files against nsl_dist embed", diff)
        self.assertLess(diff, TOLERANCE)


if __name__ == "__main__":
    os.makedirs(SCRATCH, exist_ok=True)
    torch.set_num_threads(1)
    unittest.main(verbosity=2)

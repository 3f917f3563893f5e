"""A model exported by `nsl_dist export`, in PyTorch.

    import nsl_model
    net, info = nsl_model.load_export("runs/demo/export")   # eval mode, float32, CPU
    images = nsl_model.preprocess(pixels, info)               # uint8 [n, H, W, C] -> [n, C, H, W]
    unit = net(images)                                        # [n, d], unit rows: what embed writes

Needs torch and numpy only. The export folder holds model.safetensors (the network),
centers.safetensors (the class centers) and model.json (architecture, input, preprocessing);
README "Use the model from Python" and docs/ARCHITECTURE.md describe them.
"""

import json
import math
import os
import struct

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

EXPORT_FORMAT = "nsl_dist export 1"

_NUMPY_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
                 "I32": np.int32, "U8": np.uint8}


# --- .safetensors: 8-byte little-endian header length N, N bytes of JSON, then the raw bytes ---

def read_safetensors(path):
    """Every tensor of a .safetensors file by name (float32 for BF16), and its metadata."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(body):
            raise ValueError(f"{path}: tensor {name}: data_offsets {begin, end} outside the data")
        if entry["dtype"] == "BF16":  # numpy has no bfloat16: widen the 16 bits to float32
            raw = np.frombuffer(body[begin:end], dtype="<u2").astype(np.uint32) << 16
            array = raw.view(np.float32)
        else:
            array = np.frombuffer(body[begin:end], dtype=np.dtype(_NUMPY_DTYPES[entry["dtype"]])
                                  .newbyteorder("<"))
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (float32, float16, float64 or int64) as a .safetensors file."""
    names = {np.dtype(v): k for k, v in _NUMPY_DTYPES.items()}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        array = tensors[name].detach().cpu().contiguous().numpy()
        blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# --- the networks, with the export's parameter names ---

class SmallCnn(nn.Module):
    """Stages of (conv3x3 -> GroupNorm -> ReLU) x 2, 2x2 max-pool between stages, global average
    pooling, LayerNorm: backbone.features.N.* and backbone.pooled_norm.* in the export."""

    def __init__(self, in_channels, channels, norm_groups, eps=1e-5):
        super().__init__()
        layers, c_in = [], in_channels
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.GroupNorm(norm_groups, c, eps),
                       nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, bias=False),
                       nn.GroupNorm(norm_groups, c, eps), nn.ReLU()]
            if i + 1 < len(channels):
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.pooled_norm = nn.LayerNorm(channels[-1], eps=eps)

    def forward(self, x):
        return self.pooled_norm(self.features(x).mean((2, 3)))


class _Block(nn.Module):
    """torchvision's BasicBlock (expansion 1) or Bottleneck (expansion 4, stride on the 3x3)."""

    def __init__(self, c_in, width, stride, bottleneck, eps):
        super().__init__()
        out = width * 4 if bottleneck else width
        self.bottleneck = bottleneck
        if bottleneck:
            self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width, eps)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width, eps)
            self.conv3 = nn.Conv2d(width, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out, eps)
        else:
            self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width, eps)
            self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width, eps)
        self.downsample = None
        if stride != 1 or c_in != out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False),
                                            nn.BatchNorm2d(out, eps))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.bottleneck:
            y = self.bn3(self.conv3(F.relu(y)))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """ResNet-18/50 up to layer4 with torchvision's names (conv1, bn1, layer1.0.conv1, ...)."""

    def __init__(self, depth, in_channels, eps=1e-5):
        super().__init__()
        bottleneck = depth == 50
        counts = {18: [2, 2, 2, 2], 50: [3, 4, 6, 3]}[depth]
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps)
        c_in = 64
        for stage, count in enumerate(counts):
            width, blocks = 64 << stage, []
            for b in range(count):
                blocks.append(_Block(c_in, width, 2 if stage > 0 and b == 0 else 1, bottleneck, eps))
                c_in = width * 4 if bottleneck else width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class _NSLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("log_scale", torch.zeros(()))

    def scale(self):
        return torch.exp(torch.clamp(self.log_scale, 0.0, math.log(128.0)))


class EmbeddingNet(nn.Module):
    """backbone -> pooling -> head (linear, no bias) -> (- centering_mean) -> unit rows.

    forward() returns the unit embeddings (what `nsl_dist embed` writes); scaled() the N-S layer's
    output scale * unit."""

    def __init__(self, architecture, in_channels):
        super().__init__()
        a = architecture
        if a["backbone"] == "small_cnn":
            self.backbone = SmallCnn(in_channels, a["channels"], a["norm_groups"], a["norm_eps"])
        elif a["backbone"] in ("resnet18", "resnet50"):
            self.backbone = ResNet(int(a["backbone"][6:]), in_channels, a["batch_norm_eps"])
        else:
            raise ValueError(f"unknown backbone {a['backbone']!r}")
        self.small = a["backbone"] == "small_cnn"
        self.pooling = a["pooling"]
        self.head = nn.Linear(a["features"], a["embedding_dim"], bias=False)
        self.ns = _NSLayer()
        if a["center_embeddings"]:
            self.register_buffer("centering_mean", torch.zeros(a["embedding_dim"]))
        else:
            self.centering_mean = None

    def raw(self, images):
        f = self.backbone(images)
        if not self.small:
            if self.pooling == "max":
                f = f.amax((2, 3))
            elif self.pooling == "avg+max":
                f = f.mean((2, 3)) + f.amax((2, 3))
            else:
                f = f.mean((2, 3))
        return self.head(f)

    def forward(self, images):
        x = self.raw(images)
        if self.centering_mean is not None:
            x = x - self.centering_mean
        return F.normalize(x, p=2.0, dim=1, eps=1e-12)

    def scaled(self, images):
        return self.ns.scale() * self.forward(images)


def read_info(folder):
    """model.json of an export folder, its format and its files' sizes checked."""
    with open(os.path.join(folder, "model.json"), encoding="utf-8") as f:
        info = json.load(f)
    if info.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{folder}/model.json: format {info.get('format')!r}, "
                         f"expected {EXPORT_FORMAT!r} (export again with this version)")
    for entry in info["files"]:
        path = os.path.join(folder, entry["name"])
        if os.path.getsize(path) != entry["bytes"]:
            raise ValueError(f"{path}: {os.path.getsize(path)} bytes, model.json records "
                             f"{entry['bytes']}: the export is damaged, export again")
    return info


def load_export(folder, dtype=torch.float32):
    """(EmbeddingNet in eval mode with the exported weights, model.json as a dict)."""
    info = read_info(folder)
    net = EmbeddingNet(info["architecture"], info["input"]["channels"])
    tensors, _ = read_safetensors(os.path.join(folder, "model.safetensors"))
    own = ("head.", "ns.", "centering_mean", "backbone.")
    state = {(k if k.startswith(own) else "backbone." + k): v for k, v in tensors.items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{folder}/model.safetensors does not fit model.json's architecture: "
                         f"missing {missing}, unexpected {unexpected}")
    return net.to(dtype).eval(), info


def load_centers(folder):
    """The loss's tensors of the export (for DGCRL: 'centers', [num_classes, d])."""
    return read_safetensors(os.path.join(folder, "centers.safetensors"))[0]


# --- input: what nsl_dist embed does to a stored image ---

def _taps(n_in, n_out, first, count):
    """[count, n_in] matrix of bilinear weights (half-pixel centres, no antialiasing)."""
    scale = n_in / n_out
    w = np.zeros((count, n_in))
    for k in range(count):
        src = max(0.0, (first + k + 0.5) * scale - 0.5)
        i0 = min(int(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        w[k, i0] += 1.0 - (src - i0)
        w[k, i1] += src - i0
    return w


def preprocess(pixels, info):
    """uint8 [n, H, W, C] (or [H, W, C]) stored images -> float32 [n, C, h, w] network input:
    model.json's eval resize (shorter side to round(h * ratio), central crop), then
    (x / 255 - 0.5) / 0.5."""
    p = torch.as_tensor(np.asarray(pixels))
    if p.dim() == 3:
        p = p.unsqueeze(0)
    if p.dtype != torch.uint8 or p.dim() != 4:
        raise ValueError("preprocess expects uint8 images [n, H, W, C]")
    size = info["input"]["height"]
    ratio = info["preprocessing"]["eval_resize_ratio"]
    n, h, w, c = p.shape
    shorter = round(size * ratio)  # Python's round: half to even, as nsl_dist computes it
    rh, rw = (shorter, shorter * w // h) if h <= w else (shorter * h // w, shorter)
    if (rh, rw) == (h, w) and size == h == w:
        return p.permute(0, 3, 1, 2).to(torch.float32).div(255.0).sub(0.5).div(0.5).contiguous()
    if rh < size or rw < size:
        raise ValueError(f"resizing {h}x{w} to shorter side {shorter} leaves less than {size}")
    top, left = round((rh - size) / 2), round((rw - size) / 2)
    rows = torch.from_numpy(_taps(h, rh, top, size))
    cols = torch.from_numpy(_taps(w, rw, left, size))
    x = p.permute(0, 3, 1, 2).to(torch.float64)
    x = torch.einsum("yi,ncij,xj->ncyx", rows, x, cols)
    return ((x / 255.0 - 0.5) / 0.5).to(torch.float32).contiguous()


def _area_weights(n_in, n_out):
    """[n_out, n_in] pixel-area weights (OpenCV's INTER_AREA when shrinking); bilinear when
    enlarging."""
    if n_out > n_in:
        return _taps(n_in, n_out, 0, n_out)
    scale = n_in / n_out
    w = np.zeros((n_out, n_in))
    for k in range(n_out):
        lo, hi = k * scale, (k + 1) * scale
        for i in range(int(math.floor(lo)), min(int(math.ceil(hi)), n_in)):
            w[k, i] = (min(hi, i + 1) - max(lo, i)) / scale
    return w


def load_image(path, info, box=None):
    """An image file as `nsl_dist prep` stores it: decoded, optionally cropped to box =
    (left, top, width, height), resized to the model's input size by pixel area, RGB or gray,
    uint8 [H, W, C]. Decoding needs Pillow. Identical to prep's OpenCV result when the image already
    has the stored size; otherwise within a grey level or so (rounding inside OpenCV)."""
    from PIL import Image  # only this function needs Pillow

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
    if box is not None:
        left, top, width, height = box
        rgb = rgb[top:top + height, left:left + width]
    size_h, size_w = info["input"]["height"], info["input"]["width"]
    if rgb.shape[:2] != (size_h, size_w):
        rows = _area_weights(rgb.shape[0], size_h)
        cols = _area_weights(rgb.shape[1], size_w)
        rgb = np.clip(np.rint(np.einsum("yi,ijc,xj->yxc", rows, rgb, cols)), 0, 255)
    if info["input"]["channels"] == 1:
        gray = np.rint(rgb @ np.array([0.299, 0.587, 0.114]))
        return np.clip(gray, 0, 255).astype(np.uint8)[:, :, None]
    return rgb.astype(np.uint8)

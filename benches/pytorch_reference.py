"""PyTorch twin of `shadernet bench`: training-step images/s of the seed networks and `best`.

The same networks as shadernet's presets seed9, seed12 and seedtf (5x5 'same' convolutions,
ReLU, 2x2 max-pools, dropout 0.2, He init, Adam, softmax cross-entropy), timed the way
`shadernet bench` times them: a warm-up, then `--repeats` runs of `--steps` steps on random
batches already on the device, the median run reported. On CUDA, float32 with TF32 off (the
precision shadernet computes in) unless `--tf32` is given; cuDNN autotuning on.

`best` is the record preset (src/model/presets.rs `best_layers`): conv 32 k3 valid, BN, ReLU,
conv 32 k3 valid, BN, ReLU, conv 32 k5 s2 p2, BN, ReLU, dropout 0.4, the same with 64, flatten,
dense 128, BN, ReLU, dropout 0.4, dense 10; Adam. Its steps include the preset's affine
augmentation of every image (rotation +-10 degrees, zoom +-10%, shift +-2.8 px, bilinear, zeros
outside; `F.affine_grid` + `F.grid_sample` on the batch), as shadernet's executor augments
inside its training step for that preset.

    python3 benches/pytorch_reference.py --device cuda
    python3 benches/pytorch_reference.py --device cpu --threads 2
    python3 benches/pytorch_reference.py --device cpu --threads 2 --models best --batches 128

`--epochs N` instead times whole training epochs of the `best` recipe as a user runs them
(the twin of `shadernet train --model best --epochs N --validation 5000`): MNIST from `--data`
(IDX .gz), 5,000 images held out, 55,000 trained on in shuffled batches of 128 (the last one
short), each batch augmented, Adam with OneCycleLR (max 0.003, pct_start 0.3, no momentum
cycling) stepped per batch; one JSON line per epoch with its training seconds (the training
steps only, as shadernet's `train_seconds`: no validation or test pass).

Also prints float32 SGEMM GFLOP/s at 4096^3 (cuBLAS or the CPU BLAS), the practical ceiling
for shadernet's matmul kernel on the same device (skipped with `--sgemm-size 0`). Prints one
JSON object per row.
"""

import argparse
import gzip
import json
import math
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CONVS = {"seed9": [8, 16], "seed12": [16, 32, 48, 64], "seedtf": [32, 64, 96, 128]}
MODELS = list(CONVS) + ["best"]
# The `best` preset's augmentation ranges (src/model/presets.rs), applied to every image.
ROTATION_DEGREES, ZOOM, TRANSLATE_PX = 10.0, 0.1, 2.8


def best_network():
    """The `best` preset: two blocks of 3x3, 3x3, 5x5/2 convs with BN and ReLU, dense 128."""
    layers, channels = [], 1
    for f in (32, 64):
        layers += [nn.Conv2d(channels, f, 3), nn.BatchNorm2d(f), nn.ReLU(),
                   nn.Conv2d(f, f, 3), nn.BatchNorm2d(f), nn.ReLU(),
                   nn.Conv2d(f, f, 5, stride=2, padding=2), nn.BatchNorm2d(f), nn.ReLU(),
                   nn.Dropout(0.4)]
        channels = f
    layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.BatchNorm1d(128), nn.ReLU(),
               nn.Dropout(0.4), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


def augment(x, generator=None):
    """The preset's random affine warp of every image of `x` (N, C, H, W), bilinear, zeros
    outside. An output pixel p samples the source at c + m (p - c - t), m the inverse of
    R(theta) diag(z, z), as shadernet's `Affine::source`; with align_corners=True the
    normalised coordinates are (p - c) / c, so the grid's theta is [m | -m t / c]."""
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=generator, device=x.device) * 2 - 1
    theta = u[:, 0] * (ROTATION_DEGREES * math.pi / 180)
    z = 1 + u[:, 1] * ZOOM
    tx = u[:, 2] * TRANSLATE_PX / ((w - 1) / 2)
    ty = u[:, 3] * TRANSLATE_PX / ((h - 1) / 2)
    cos, sin = torch.cos(theta) / z, torch.sin(theta) / z
    m00, m01, m10, m11 = cos, sin, -sin, cos
    affine = torch.stack([
        torch.stack([m00, m01, -(m00 * tx + m01 * ty)], 1),
        torch.stack([m10, m11, -(m10 * tx + m11 * ty)], 1),
    ], 1)
    grid = F.affine_grid(affine, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def network(name):
    """The preset's layers: seed9 pools after each conv; seed12/seedtf after the 2nd and 4th."""
    if name == "best":
        net = best_network()
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        return net
    layers, channels, side = [], 1, 28
    filters = CONVS[name]
    for i, f in enumerate(filters):
        layers += [nn.Conv2d(channels, f, 5, padding=2), nn.ReLU()]
        if name == "seed9" or i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        layers.append(nn.Dropout(0.2))
        channels = f
    layers += [nn.Flatten(), nn.Linear(channels * side * side, 10)]
    if name == "seedtf":
        layers += [nn.BatchNorm1d(10), nn.Linear(10, 10)]
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_model(name, batch, device, steps, repeats):
    torch.manual_seed(1)
    net = network(name).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(steps, batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (steps, batch), device=device)

    augmented = name == "best"

    def run():
        for s in range(steps):
            opt.zero_grad(set_to_none=True)
            xs = augment(x[s]) if augmented else x[s]
            loss_fn(net(xs), y[s]).backward()
            opt.step()
        sync(device)

    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times) / steps
    return {
        "model": name,
        "backend": f"pytorch-{device.type}",
        "batch": batch,
        "images_per_s": round(batch / seconds, 1),
        "ms_per_step": round(seconds * 1e3, 3),
    }


def bench_sgemm(device, size, repeats):
    a = torch.rand(size, size, device=device)
    b = torch.rand(size, size, device=device)
    c = a @ b
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            c = a @ b
        sync(device)
        times.append((time.perf_counter() - start) / 10)
    seconds = statistics.median(times)
    del c
    return {
        "op": f"sgemm {size}^3",
        "backend": f"pytorch-{device.type}",
        "ms": round(seconds * 1e3, 3),
        "gflops": round(2 * size**3 / seconds / 1e9, 1),
    }


def read_idx(path):
    """An IDX file (.gz or not) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist_file(data, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{data}: no {stem}[.gz]")


def train_epochs(args, device):
    """Whole training epochs of the `best` recipe; one JSON line per epoch."""
    images = read_idx(mnist_file(args.data, "train-images-idx3-ubyte"))
    labels = read_idx(mnist_file(args.data, "train-labels-idx1-ubyte"))
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(images), generator=generator)
    train_idx = order[args.validation:]
    x_all = torch.from_numpy(images.copy())[train_idx].unsqueeze(1).to(device)  # uint8
    y_all = torch.from_numpy(labels.astype(np.int64))[train_idx].to(device)
    n = len(train_idx)
    steps = math.ceil(n / args.batch)
    torch.manual_seed(args.seed)
    net = network("best").to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, eps=1e-8)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=steps * args.epochs, pct_start=0.3,
        cycle_momentum=False)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    for epoch in range(args.epochs):
        start = time.perf_counter()
        perm = torch.randperm(n, generator=generator).to(device)
        correct, total_loss = 0, 0.0
        for s in range(steps):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            x = augment(x_all[idx].float().div_(255))
            y = y_all[idx]
            opt.zero_grad(set_to_none=True)
            out = net(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.detach() * len(idx)
            correct += (out.detach().argmax(1) == y).sum()
        sync(device)
        seconds = time.perf_counter() - start
        print(json.dumps({
            "recipe": "best", "backend": f"pytorch-{device.type}", "epoch": epoch + 1,
            "images": n, "batch": args.batch, "train_seconds": round(seconds, 3),
            "images_per_s": round(n / seconds, 1),
            "train_loss": round(float(total_loss) / n, 4),
            "train_error_pct": round(100 * (1 - int(correct) / n), 2),
        }), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--models", nargs="*", default=list(CONVS), choices=MODELS)
    parser.add_argument("--batches", nargs="*", type=int, default=[16, 128])
    parser.add_argument("--sgemm-size", type=int, default=4096, help="0 to skip")
    parser.add_argument("--epochs", type=int, default=0,
                        help="time this many whole epochs of the best recipe instead of steps")
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--validation", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=128, help="the epochs' batch size")
    parser.add_argument("--lr", type=float, default=0.003, help="the epochs' OneCycle max")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    print(json.dumps({"torch": torch.__version__, "device": str(device),
                      "name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                      "tf32": args.tf32, "threads": torch.get_num_threads()}), flush=True)
    if args.epochs > 0:
        train_epochs(args, device)
        return
    if args.sgemm_size > 0:
        print(json.dumps(bench_sgemm(device, args.sgemm_size, args.repeats)), flush=True)
    for name in args.models:
        for batch in args.batches:
            print(json.dumps(bench_model(name, batch, device, args.steps, args.repeats)),
                  flush=True)


if __name__ == "__main__":
    main()

"""PyTorch twin of `shadernet bench`: training-step images/s of the seed networks.

The same networks as shadernet's presets seed9, seed12 and seedtf (5x5 'same' convolutions,
ReLU, 2x2 max-pools, dropout 0.2, He init, Adam, softmax cross-entropy), timed the way
`shadernet bench` times them: a warm-up, then `--repeats` runs of `--steps` steps on random
batches already on the device, the median run reported. On CUDA, float32 with TF32 off (the
precision shadernet computes in) unless `--tf32` is given; cuDNN autotuning on.

    python3 benches/pytorch_reference.py --device cuda
    python3 benches/pytorch_reference.py --device cpu --threads 2

Also prints float32 SGEMM GFLOP/s at 4096^3 (cuBLAS or the CPU BLAS), the practical ceiling
for shadernet's matmul kernel on the same device. Prints one JSON object per row.
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn

CONVS = {"seed9": [8, 16], "seed12": [16, 32, 48, 64], "seedtf": [32, 64, 96, 128]}


def network(name):
    """The preset's layers: seed9 pools after each conv; seed12/seedtf after the 2nd and 4th."""
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

    def run():
        for s in range(steps):
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[s]), y[s]).backward()
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--models", nargs="*", default=list(CONVS))
    parser.add_argument("--batches", nargs="*", type=int, default=[16, 128])
    parser.add_argument("--sgemm-size", type=int, default=4096)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    print(json.dumps({"torch": torch.__version__, "device": str(device),
                      "name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                      "tf32": args.tf32}))
    print(json.dumps(bench_sgemm(device, args.sgemm_size, args.repeats)))
    for name in args.models:
        for batch in args.batches:
            print(json.dumps(bench_model(name, batch, device, args.steps, args.repeats)))


if __name__ == "__main__":
    main()

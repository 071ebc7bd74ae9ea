"""Helpers of same_results.sh: `subset SRC DST TRAIN TEST` writes the first images of an IDX
data directory; `digest DIR` prints one line per run directory in DIR: a hash of its metrics
(losses, errors, learning rates: no times) and of every tensor of its checkpoints, and its
summary line with the times blanked."""
import gzip, hashlib, json, os, re, sys


def subset(src, dst, train, test):
    for prefix, n in (("train", train), ("t10k", test)):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{prefix}-{kind}-ubyte.gz"
            data = gzip.open(os.path.join(src, name)).read()
            ndim = data[3]
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            per = 1
            for d in dims[1:]:
                per *= d
            header = data[:4] + n.to_bytes(4, "big") + data[8:4 + 4 * ndim]
            body = data[4 + 4 * ndim:4 + 4 * ndim + n * per]
            with gzip.open(os.path.join(dst, name), "wb") as f:
                f.write(header + body)


def tensors_digest(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    h = hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        start, end = header[name]["data_offsets"]
        h.update(name.encode())
        h.update(data[start:end])
    return h.hexdigest()


def digest(root):
    keys = ["epoch", "train_loss", "train_error", "validation_loss", "validation_error", "lr"]
    for d in sorted(os.listdir(root)):
        run = os.path.join(root, d)
        if not os.path.isdir(run):
            continue
        rows = []
        for line in open(os.path.join(run, "metrics.jsonl")):
            r = json.loads(line)
            rows.append(json.dumps({k: r.get(k) for k in keys}, sort_keys=True))
        for f in ("last.safetensors", "best.safetensors"):
            rows.append(f + " " + tensors_digest(os.path.join(run, f)))
        summary = open(os.path.join(root, d + ".txt")).read().strip()
        summary = re.sub(r"in [0-9.]+ s", "in T s", summary)
        print(d, hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16], summary)


if __name__ == "__main__":
    if sys.argv[1] == "subset":
        subset(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        digest(sys.argv[2])

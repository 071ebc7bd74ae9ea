#!/usr/bin/env python3
"""Makes the files of benches/hostile/run.sh's cases and judges what a case left behind.

Standard library only. Subcommands:

  data DIR [--train N] [--test N] [--size H W] [--classes C]   synthetic IDX set (raw)
  idx PATH DIMS [--dtype CODE] [--fill V] [--bytes N] [--extra N]
                                 one IDX file: DIMS like 10,8,8; --bytes N writes N data bytes
                                 instead of the product (short or long files), --extra appends
  png PATH W H [--bits 8|16] [--color grey|rgb|rgba] [--value V] [--alpha A] [--ink]
                                 a PNG (an ink stroke on a background unless --value fixes all)
  jpeg PATH                      a 16x16 JPEG (543 bytes, CPython's test picture python.jpg)
  bmp PATH                       a 2x2 24-bit BMP
  ckpt IN OUT [--rename A B] [--drop A] [--meta K V] [--nan A] [--shape A DIMS] [--dtype A T]
                                 a copy of a safetensors checkpoint with one thing changed
  sums DIR                       one line per entry: path, kind, sha256 (FIFOs never opened)
  nanscan FILE...                prints the F32 tensors that hold NaN or infinity
"""

import base64
import hashlib
import json
import math
import os
import random
import stat
import struct
import sys
import zlib

JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDREN"
    "Dg8QEBEQCgwSExIQEw8QEBD/2wBDAQMDAwQDBAgEBAgQCwkLEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
    "EBAQEBAQEBAQEBAQEBD/wAARCAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwQF/8QAJBAAAQQBBAICAwAA"
    "AAAAAAAAAQIDBAYFBwgSExEiABQJMTL/xAAVAQEBAAAAAAAAAAAAAAAAAAAABv/EACMRAAECBQMFAAAAAAAAAAAAAAECEQME"
    "BQYhABIxFRZhgeH/2gAMAwEAAhEDEQA/ABSm0mobc8HmExLUlRzzEWPkJWW+ulrsaUVAseUgslSlH9LKuPryIKuWPZdskzXm"
    "m3fX5m2nF4GlVxx/HOpx4ks51+MiU/Iaad7UcUo4tILoS4kqcWkezS0hO/HvuRp0rO6hWnWO1UisZVuFi4GFeyEpmGepa5S5"
    "SWVPuciFKRFLgSrwetnyPIB+Vb4N9mKhQMzo5po9XLdDs9d6ZVix2VEhiL9kuNPxw2gEKcDQ/rs8AuA8VAe0vdl7VOYn+27f"
    "lGAUgmITjbhSmCg3BYlyeWDkMolvw4KOp1KM6iCNvngZHwetf//Z"
)


def opt(args, name, default=None, count=1):
    """Pops `--name V...` from args; returns V (or a list when count > 1), else default."""
    if name not in args:
        return default
    i = args.index(name)
    values = args[i + 1 : i + 1 + count]
    del args[i : i + 1 + count]
    return values[0] if count == 1 else values


def flag(args, name):
    if name in args:
        args.remove(name)
        return True
    return False


def idx_bytes(dims, data, dtype=0x08):
    out = bytes([0, 0, dtype, len(dims)])
    for d in dims:
        out += struct.pack(">I", d)
    return out + bytes(data)


def cmd_data(args):
    train = int(opt(args, "--train", 60))
    test = int(opt(args, "--test", 30))
    h, w = map(int, opt(args, "--size", ["28", "28"], 2))
    classes = int(opt(args, "--classes", 3))
    d = args[0]
    os.makedirs(d, exist_ok=True)
    rng = random.Random(99)
    for prefix, n in (("train", train), ("t10k", test)):
        images, labels = bytearray(), bytearray()
        for i in range(n):
            c = i % classes
            labels.append(c)
            for row in range(h):
                bar = row % max(1, 2 * classes) in (2 * c, 2 * c + 1)
                for _ in range(w):
                    images.append(int((180 if bar else 20) + 60 * rng.random()))
        with open(f"{d}/{prefix}-images-idx3-ubyte", "wb") as f:
            f.write(idx_bytes([n, h, w], images))
        with open(f"{d}/{prefix}-labels-idx1-ubyte", "wb") as f:
            f.write(idx_bytes([n], labels))


def cmd_idx(args):
    dtype = int(opt(args, "--dtype", "8"), 0)
    fill = int(opt(args, "--fill", "0"))
    nbytes = opt(args, "--bytes")
    extra = int(opt(args, "--extra", "0"))
    path, dims = args[0], [int(d) for d in args[1].split(",") if d != ""]
    n = math.prod(dims) if nbytes is None else int(nbytes)
    with open(path, "wb") as f:
        f.write(idx_bytes(dims, bytes([fill]) * n + bytes(extra), dtype))


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def cmd_png(args):
    bits = int(opt(args, "--bits", "8"))
    color = opt(args, "--color", "grey")
    value = opt(args, "--value")
    alpha = int(opt(args, "--alpha", "255"))
    path, w, h = args[0], int(args[1]), int(args[2])
    channels = {"grey": 1, "rgb": 3, "rgba": 4}[color]
    ctype = {"grey": 0, "rgb": 2, "rgba": 6}[color]
    top = (1 << bits) - 1

    def pixel(v):
        px = [v] * min(channels, 3) + ([alpha if bits == 8 else alpha * 257] if channels == 4 else [])
        return b"".join(c.to_bytes(bits // 8, "big") for c in px)

    background = pixel(top if value is None else int(value))
    ink = pixel(0)
    half = max(0, w // 10)
    x0, x1 = max(0, w // 2 - half), min(w, w // 2 + half + 1)
    plain = b"\0" + background * w
    stroke = b"\0" + background * x0 + ink * (x1 - x0) + background * (w - x1)
    raw = b"".join(
        stroke if value is None and h // 5 <= y <= 4 * h // 5 else plain for y in range(h)
    )
    ihdr = struct.pack(">IIBBBBB", w, h, bits, ctype, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr))
        f.write(png_chunk(b"IDAT", zlib.compress(raw, 6)) + png_chunk(b"IEND", b""))


def cmd_bmp(args):
    row = b"\x00\x00\x00\xff\xff\xff" + b"\x00\x00"
    pixels = row * 2
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    with open(args[0], "wb") as f:
        f.write(header + info + pixels)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    return header, blob[8 + n :]


def write_safetensors(path, header, tensors):
    """tensors: name -> bytes; offsets recomputed in the header's order."""
    out, offset = bytearray(), 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        data = tensors[name]
        info["data_offsets"] = [offset, offset + len(data)]
        out += data
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + out)


def cmd_ckpt(args):
    src, dst = args[0], args[1]
    header, body = read_safetensors(src)
    tensors = {
        k: body[v["data_offsets"][0] : v["data_offsets"][1]]
        for k, v in header.items()
        if k != "__metadata__"
    }
    rename = opt(args, "--rename", None, 2)
    if rename:
        header = {(rename[1] if k == rename[0] else k): v for k, v in header.items()}
        tensors[rename[1]] = tensors.pop(rename[0])
    drop = opt(args, "--drop")
    if drop:
        del header[drop], tensors[drop]
    meta = opt(args, "--meta", None, 2)
    if meta:
        header.setdefault("__metadata__", {})[meta[0]] = meta[1]
    nan = opt(args, "--nan")
    if nan:
        tensors[nan] = struct.pack("<f", float("nan")) * (len(tensors[nan]) // 4)
    shape = opt(args, "--shape", None, 2)
    if shape:
        dims = [int(d) for d in shape[1].split(",") if d != ""]
        header[shape[0]]["shape"] = dims
        tensors[shape[0]] = bytes(4 * math.prod(dims))
    dtype = opt(args, "--dtype", None, 2)
    if dtype:
        header[dtype[0]]["dtype"] = dtype[1]
    write_safetensors(dst, header, tensors)


def cmd_sums(args):
    root = args[0]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root).replace("\\", "\\\\").replace("\n", "\\n")
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                print(f"{rel}\tlink\t{os.readlink(p)}")
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                try:
                    with open(p, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            h.update(block)
                    print(f"{rel}\tfile\t{h.hexdigest()}")
                except OSError as e:
                    print(f"{rel}\tfile\tunreadable {e.errno}")
            elif stat.S_ISDIR(st.st_mode):
                print(f"{rel}\tdir\t{oct(st.st_mode & 0o777)}")
            else:
                print(f"{rel}\tother\t{stat.S_IFMT(st.st_mode)}")


def cmd_nanscan(args):
    bad = 0
    for path in args:
        try:
            header, body = read_safetensors(path)
        except Exception:  # not a checkpoint a loader could read: not a saved model either
            continue
        for name, info in header.items():
            if name == "__metadata__" or info.get("dtype") != "F32":
                continue
            a, b = info["data_offsets"]
            values = struct.unpack(f"<{(b - a) // 4}f", body[a : a - (b - a) % 4 + (b - a)])
            if not all(math.isfinite(v) for v in values):
                print(f"{path}:{name}")
                bad += 1
    sys.exit(1 if bad else 0)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "jpeg":
        with open(args[0], "wb") as f:
            f.write(JPEG)
        return
    {
        "data": cmd_data,
        "idx": cmd_idx,
        "png": cmd_png,
        "bmp": cmd_bmp,
        "ckpt": cmd_ckpt,
        "sums": cmd_sums,
        "nanscan": cmd_nanscan,
    }[cmd](args)


if __name__ == "__main__":
    main()

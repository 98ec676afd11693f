#!/usr/bin/env python3
"""Writes two synthetic PNG posters for the load run (stdlib only, seeded):
small.png (1200 x 800, a gradient) for the download and 304 scenarios, and
big.png (random pixels, just under the 20 MiB upload limit) for the
concurrent-download memory check. Usage: gen_posters.py OUT_DIR [--small-only]"""
import pathlib
import random
import struct
import sys
import zlib

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)


def png(width, height, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


w, h = 1200, 800
gradient = [b"".join(bytes([x * 255 // w, y * 255 // h, 150]) for x in range(w)) for y in range(h)]
(out / "small.png").write_bytes(png(w, h, gradient))
rng = random.Random(7)
side = 2580
if "--small-only" in sys.argv:
    sys.exit(0)
noise = [rng.randbytes(side * 3) for _ in range(side)]
big = png(side, side, noise)
assert len(big) < 20 * 1024 * 1024, len(big)
(out / "big.png").write_bytes(big)

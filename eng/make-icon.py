#!/usr/bin/env python3
# Makes src/KeepAlive.AspNetCore/icon.png, the package icon (python3 eng/make-icon.py; no library needed).
# The package icon: a heartbeat trace (a keepalive) on a rounded square, 128x128, drawn at 4x and averaged down.
import struct, zlib, math
S, K = 128, 4
N = S * K
bg = (81, 43, 212)      # .NET purple
fg = (255, 255, 255)
def inside_rounded(x, y, r):
    cx = min(max(x, r), N - 1 - r); cy = min(max(y, r), N - 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
# The trace: flat, a beat, flat, then a break and a dot (the peer that stopped answering).
pts = [(0.12, 0.55), (0.34, 0.55), (0.42, 0.30), (0.52, 0.78), (0.60, 0.42), (0.66, 0.55), (0.74, 0.55)]
pts = [(x * N, y * N) for x, y in pts]
width = 0.055 * N
def dist_seg(px, py, a, b):
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0, min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)
dot = (0.86 * N, 0.55 * N); dot_r = 0.045 * N
rows = []
for Y in range(S):
    row = bytearray([0])
    for X in range(S):
        acc = [0, 0, 0, 0]
        for sy in range(K):
            for sx in range(K):
                x, y = X * K + sx + 0.5, Y * K + sy + 0.5
                if not inside_rounded(x, y, 0.18 * N):
                    continue
                on = math.hypot(x - dot[0], y - dot[1]) <= dot_r or min(dist_seg(x, y, pts[i], pts[i + 1]) for i in range(len(pts) - 1)) <= width / 2
                c = fg if on else bg
                acc[0] += c[0]; acc[1] += c[1]; acc[2] += c[2]; acc[3] += 255
        n = K * K
        m = acc[3] // 255
        row += bytes([acc[0] // m if m else 0, acc[1] // m if m else 0, acc[2] // m if m else 0, acc[3] // n])
    rows.append(bytes(row))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
raw = b"".join(rows)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", S, S, 8, 6, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
open(__import__("sys").argv[1] if len(__import__("sys").argv) > 1 else "src/KeepAlive.AspNetCore/icon.png", "wb").write(png)
print(len(png))

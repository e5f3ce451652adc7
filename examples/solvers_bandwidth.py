"""Host <-> device copy, off-wafer read and routed broadcast bandwidth, simulated against `WaferSpec`'s figures.

    python examples/solvers_bandwidth.py
"""
from __future__ import annotations

import wafersim as ws
from wafersim.kernels.solvers import broadcast_bandwidth, global_read_bandwidth, memcpy_bandwidth


def main() -> None:
    device = ws.Device("dev")
    print(f"host copies: {device.spec.host_transfer_latency_s * 1e6:g} us + bytes / "
          f"{device.spec.global_bytes_per_s / 1e9:g} GB/s")
    for direction in ("htod", "dtoh"):
        for point in memcpy_bandwidth([4 << k for k in range(0, 25, 4)], direction, device=device):
            print(f"  {direction} {point.nbytes:>12,} B: {point.bytes_per_s / 1e9:8.3f} GB/s simulated, "
                  f"{point.predicted_bytes_per_s / 1e9:8.3f} GB/s predicted")
    print("off-wafer reads by every PE of a block (one bulk copy each):")
    for words, side in ((16, 8), (256, 16), (1024, 32)):
        point, stats = global_read_bandwidth(words, (side, side))
        print(f"  {words:5d} words x {side} x {side} PEs: {stats.cycles:>7,} cycles, "
              f"{point.bytes_per_s / 1e9:7.2f} GB/s simulated, bound {point.predicted_bytes_per_s / 1e9:7.2f} GB/s")
    print("routed row broadcasts of 1,024 words (every receiver's rate):")
    for length in (8, 16, 64, 256):
        point, stats = broadcast_bandwidth(1024, (length, 1))
        print(f"  a row of {length:3d} PEs: {stats.cycles:>7,} cycles, {point.bytes_per_s / 1e9:6.3f} GB/s simulated, "
              f"bound {point.predicted_bytes_per_s / 1e9:6.3f} GB/s")


if __name__ == "__main__":
    main()

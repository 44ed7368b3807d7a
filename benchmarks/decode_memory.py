"""Peak memory and time of VAE decoding, whole vs tiled, by output size.

    python benchmarks/decode_memory.py [--sizes 512 1024 2048] [--whole-up-to 1024]

The SD VAE architecture (random weights: memory and time do not depend on the values), decoding
one image per run, each run in its own process so its peak RSS is its own. Prints a table and
writes benchmarks/results/decode_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "decode_memory.json"


def worker(size: int, tiled: bool) -> None:
    from diffusers import AutoencoderKL

    from scenecraft.model.autoencoder import LatentDecoder

    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
    ).eval()
    decoder = LatentDecoder(vae, tile_size=512)
    if not tiled:
        vae.disable_tiling()
    from generate_speed import peak_rss_mib  # this folder is on sys.path when run as a script

    base = peak_rss_mib()
    z = torch.randn(1, 4, size // 8, size // 8)
    start = time.perf_counter()
    with torch.inference_mode():
        image = decoder.decode(z)
    seconds = time.perf_counter() - start
    assert image.shape == (1, 3, size, size)
    peak = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "before_decode_mib": base}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--whole-up-to", type=int, default=1024, help="largest size also decoded whole")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(int(args.worker[0]), args.worker[1] == "tiled")

    rows = []
    for size in args.sizes:
        for mode in ("tiled", "whole"):
            if mode == "whole" and size > args.whole_up_to:
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(size), mode], check=True, capture_output=True, text=True
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.append({"size": size, "mode": mode, **{k: round(v, 2) for k, v in r.items()}})
            print(f"done {size} {mode}", file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"device": "cpu", "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
    print("| output px | decode | seconds | peak RSS MiB | RSS before decode MiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']}² | {r['mode']} | {r['seconds']:.1f} | {r['peak_rss_mib']:.0f} "
            f"| {r['before_decode_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()

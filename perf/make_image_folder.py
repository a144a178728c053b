"""Write 10,000 32x32 RGB PNGs in 10 class folders: a blob whose colour and place depend on the class, on noise.

python perf/make_image_folder.py DIR      # the folder docs/own_data.md times (seeded: the same images every time)
"""

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

root = Path(sys.argv[1])
rng = np.random.default_rng(0)
t = time.time()
yy, xx = np.mgrid[0:32, 0:32]
for c in range(10):
    d = root / f"class{c}"
    d.mkdir(parents=True, exist_ok=True)
    colour = np.array([(c * 37) % 256, (c * 91) % 256, (c * 151) % 256])
    for i in range(1000):
        cy, cx = 8 + 16 * (c % 2) + rng.integers(-4, 5), 8 + 16 * (c // 5) + rng.integers(-4, 5)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2 < 36)[..., None]
        img = rng.integers(0, 80, (32, 32, 3)) + blob * colour
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{i:04d}.png")
print(f"generated 10,000 PNGs in {time.time() - t:.1f}s")

"""Render a screenshot as seen with protanopia and deuteranopia (Machado et al. 2009, via colour-science).

Run: ``python tests/browser/cvd_render.py IN.png OUT_PREFIX`` writes ``OUT_PREFIX_protanopia.png`` and
``OUT_PREFIX_deuteranopia.png``: full-severity simulations, to check by eye that the district picture's
stage colours and the better/worse colours stay apart (tests/test_app.py checks the stage colours in numbers).
"""

from __future__ import annotations

import sys

import colour
import numpy as np
from PIL import Image


def simulate(rgb: np.ndarray, deficiency: str) -> np.ndarray:
    """An sRGB image (floats 0-1) as seen with a full ``deficiency`` ("Protanomaly", "Deuteranomaly")."""
    matrix = colour.blindness.matrix_cvd_Machado2009(deficiency, 1.0)
    linear = colour.models.eotf_sRGB(rgb) @ matrix.T
    return colour.models.eotf_inverse_sRGB(np.clip(linear, 0, 1))


def main() -> None:
    src, prefix = sys.argv[1], sys.argv[2]
    rgb = np.asarray(Image.open(src).convert("RGB"), dtype=float) / 255
    for deficiency, name in (("Protanomaly", "protanopia"), ("Deuteranomaly", "deuteranopia")):
        out = (simulate(rgb, deficiency) * 255).round().astype(np.uint8)
        Image.fromarray(out).save(f"{prefix}_{name}.png", optimize=True)


if __name__ == "__main__":
    main()

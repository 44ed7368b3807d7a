"""Materials: a procedural texture and a response to light for each of :data:`spec.MATERIALS`.

Every material has two parts:

- an **albedo texture**, a function of the surface point (metres, in the subject's own frame) and
  its normal, built from value noise and simple patterns (wood rings, marble veins, brick courses,
  fabric weave, grass blades, sand grain, brushed streaks);
- a **response** (:class:`Response`): diffuse weight, Blinn-Phong specular strength and exponent,
  mirror reflection, transparency and sheen. Metals are specular and reflective, fabric and rubber
  diffuse, glass transparent with a Fresnel rim; the renderer lights all of them from the scene's
  one light, so highlights and shadows agree.

A subject's colour tints the texture by :attr:`Response.tint` (0 keeps the material's own colour,
1 paints it fully), so "a red marble sphere" keeps its veins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenecraft.world.spec import MATERIALS

_LATTICE = 64
_NOISE = np.random.default_rng(12345).random((_LATTICE, _LATTICE, _LATTICE)).astype(np.float32)


def value_noise(p: np.ndarray) -> np.ndarray:
    """Smooth 3-D value noise in [0, 1], period 64. (N, 3) -> (N,)."""
    p = np.asarray(p, dtype=np.float32)
    i = np.floor(p)
    f = p - i
    f = f * f * (3.0 - 2.0 * f)  # smoothstep weights
    i = i.astype(np.int64) % _LATTICE
    i1 = (i + 1) % _LATTICE
    x0, y0, z0 = i[:, 0], i[:, 1], i[:, 2]
    x1, y1, z1 = i1[:, 0], i1[:, 1], i1[:, 2]
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    n = _NOISE
    c00 = n[x0, y0, z0] * (1 - fx) + n[x1, y0, z0] * fx
    c10 = n[x0, y1, z0] * (1 - fx) + n[x1, y1, z0] * fx
    c01 = n[x0, y0, z1] * (1 - fx) + n[x1, y0, z1] * fx
    c11 = n[x0, y1, z1] * (1 - fx) + n[x1, y1, z1] * fx
    c0 = c00 * (1 - fy) + c10 * fy
    c1 = c01 * (1 - fy) + c11 * fy
    return c0 * (1 - fz) + c1 * fz


def fbm(p: np.ndarray, octaves: int = 3) -> np.ndarray:
    """Fractal sum of value noise in about [0, 1]. (N, 3) -> (N,)."""
    total = np.zeros(len(p), dtype=np.float32)
    amp, norm = 0.5, 0.0
    for o in range(octaves):
        total += amp * value_noise(p * (2.0**o) + 17.0 * o)
        norm += amp
        amp *= 0.5
    return total / norm


def surface_uv(p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planar texture coordinates chosen by the dominant normal axis. (N, 3) x2 -> (N,), (N,)."""
    a = np.abs(n)
    top = (a[:, 1] >= a[:, 0]) & (a[:, 1] >= a[:, 2])
    side_x = ~top & (a[:, 0] >= a[:, 2])
    u = np.where(top, p[:, 0], np.where(side_x, p[:, 2], p[:, 0]))
    v = np.where(top, p[:, 2], p[:, 1])
    return u, v


@dataclass(frozen=True)
class Response:
    """How a material answers light. All weights are in 0..1 except ``shininess`` (Phong exponent)."""

    diffuse: float
    specular: float
    shininess: float
    reflect: float = 0.0
    transparency: float = 0.0
    sheen: float = 0.0
    tint: float = 0.5
    shade: float = 1.0  # brightness of the painted colour (rubber is darker than paint)


RESPONSES: dict[str, Response] = {
    "wood": Response(diffuse=0.9, specular=0.12, shininess=12, tint=0.35),
    "marble": Response(diffuse=0.85, specular=0.45, shininess=60, reflect=0.08, tint=0.35),
    "brushed_metal": Response(diffuse=0.45, specular=0.9, shininess=18, reflect=0.3, tint=0.45),
    "chrome": Response(diffuse=0.08, specular=1.4, shininess=220, reflect=0.88, tint=0.45),
    "brick": Response(diffuse=0.95, specular=0.03, shininess=4, tint=0.3),
    "grass": Response(diffuse=0.95, specular=0.02, shininess=4, tint=0.25),
    "sand": Response(diffuse=0.95, specular=0.05, shininess=6, tint=0.3),
    "fabric": Response(diffuse=0.95, specular=0.0, shininess=1, sheen=0.35, tint=0.9),
    "rubber": Response(diffuse=0.9, specular=0.04, shininess=4, tint=0.95, shade=0.72),
    "glass": Response(diffuse=0.05, specular=1.2, shininess=150, reflect=0.12, transparency=0.8, tint=0.8),
    "plastic": Response(diffuse=0.85, specular=0.95, shininess=60, reflect=0.12, tint=0.95),
    "skin": Response(diffuse=0.9, specular=0.15, shininess=14, sheen=0.1, tint=0.0),
}
assert tuple(RESPONSES) == MATERIALS, "every material needs a response, in spec.MATERIALS order"


def _mix(a: np.ndarray | tuple[float, ...], b: np.ndarray | tuple[float, ...], t: np.ndarray) -> np.ndarray:
    """Per-point blend of two colours. t: (N,) -> (N, 3)."""
    return np.asarray(a, np.float32) * (1 - t[:, None]) + np.asarray(b, np.float32) * t[:, None]


def _wood(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    plank = np.floor(p[:, 0] / 0.35)
    q = p + plank[:, None] * 1.37
    rings = np.sin(
        26.0 * np.sqrt((q[:, 1] * 0.5) ** 2 + q[:, 2] ** 2 + 0.01) + 5.0 * fbm(q * (1.5, 6.0, 1.5))
    )
    t = (0.5 + 0.5 * rings) ** 1.5
    grain = value_noise(q * (2.0, 60.0, 2.0)) * 0.15
    joint = (np.abs(p[:, 0] / 0.35 - np.round(p[:, 0] / 0.35)) < 0.03).astype(np.float32) * 0.35
    return _mix((0.62, 0.40, 0.20), (0.36, 0.20, 0.08), np.clip(t + grain + joint, 0, 1))


def _marble(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    v = np.abs(np.sin(5.0 * (p[:, 0] + 0.6 * p[:, 1] + 0.3 * p[:, 2]) + 6.0 * fbm(p * 2.0, 4)))
    vein = (1.0 - v) ** 24
    cloud = fbm(p * 4.0 + 3.0) * 0.15
    return _mix((0.93, 0.92, 0.89), (0.42, 0.45, 0.48), np.clip(0.8 * vein + cloud, 0, 1))


def _brushed(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    u, v = surface_uv(p, n)
    streak = value_noise(np.stack([u * 3.0, v * 140.0, u * 0 + 3.0], 1)) * 0.25
    return _mix((0.70, 0.71, 0.74), (0.45, 0.46, 0.50), streak * 2.0)


def _chrome(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray((0.8, 0.81, 0.83), np.float32), p.shape).copy()


def _brick(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    u, v = surface_uv(p, n)
    row = np.floor(v / 0.09)
    uu = u / 0.22 + 0.5 * (row % 2)
    mortar = (np.abs(uu - np.round(uu)) < 0.06) | (np.abs(v / 0.09 - np.round(v / 0.09)) < 0.1)
    brick_id = np.floor(uu) * 7.1 + row * 3.3
    shade = value_noise(np.stack([brick_id, row, brick_id * 0.3], 1)) * 0.35 + value_noise(p * 30.0) * 0.12
    col = _mix((0.66, 0.24, 0.14), (0.40, 0.13, 0.08), shade)
    return np.where(mortar[:, None], np.asarray((0.74, 0.71, 0.64), np.float32), col)


def _grass(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    blades = value_noise(p * (45.0, 12.0, 45.0))
    patch = fbm(p * 1.5, 2)
    col = _mix((0.10, 0.30, 0.06), (0.40, 0.62, 0.16), np.clip(blades * 1.2 - 0.1, 0, 1))
    return col * (0.8 + 0.4 * patch[:, None])


def _sand(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    grain = value_noise(p * 90.0) * 0.22
    ripple = 0.5 + 0.5 * np.sin(14.0 * p[:, 0] + 3.0 * fbm(p * 1.2, 2) * 6.0)
    return _mix((0.88, 0.76, 0.54), (0.66, 0.54, 0.36), np.clip(grain + 0.25 * ripple, 0, 1))


def _fabric(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Gingham: crossing bands 7 cm wide over a fine weave."""
    u, v = surface_uv(p, n)
    band_u = (np.sin(u * (2 * np.pi / 0.14)) > 0).astype(np.float32)
    band_v = (np.sin(v * (2 * np.pi / 0.14)) > 0).astype(np.float32)
    weave = 0.5 + 0.5 * np.sin(u * 180.0) * np.sin(v * 180.0)
    return _mix((0.85, 0.83, 0.80), (0.30, 0.29, 0.27), 0.32 * band_u + 0.32 * band_v + 0.15 * weave)


def _garment(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Clothing: a plain fine weave with soft stripes (people's clothes are fabric too)."""
    u, v = surface_uv(p, n)
    weave = 0.5 + 0.5 * np.sin(u * 180.0) * np.sin(v * 180.0)
    stripes = 0.5 + 0.5 * np.sin(u * 25.0)
    return _mix((0.72, 0.70, 0.66), (0.40, 0.38, 0.35), 0.6 * weave + 0.25 * stripes)


def _rubber(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Matte and mottled."""
    return _mix((0.32, 0.32, 0.32), (0.18, 0.18, 0.18), value_noise(p * 22.0) * 0.8 + value_noise(p * 90.0) * 0.2)


def _glass(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray((0.85, 0.9, 0.92), np.float32), p.shape).copy()


def _plastic(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray((0.6, 0.6, 0.6), np.float32), p.shape).copy()


def _skin(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _mix((0.86, 0.64, 0.50), (0.78, 0.55, 0.42), value_noise(p * 20.0) * 0.5)


_TEXTURES = (
    _wood,
    _marble,
    _brushed,
    _chrome,
    _brick,
    _grass,
    _sand,
    _fabric,
    _rubber,
    _glass,
    _plastic,
    _skin,
)
_LUMA = np.asarray((0.3, 0.59, 0.11), np.float32)


def _probe() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(-2, 2, (2048, 3)).astype(np.float32), rng.normal(size=(2048, 3)).astype(np.float32)


def _mean_luma() -> list[float]:
    """Average brightness of each texture, so a tint keeps the texture's contrast around the colour."""
    p, n = _probe()
    return [max(float((tex(p, n) @ _LUMA).mean()), 0.05) for tex in _TEXTURES]


_MEAN_LUMA = _mean_luma()
_GARMENT_LUMA = max(float((_garment(*_probe()) @ _LUMA).mean()), 0.05)


def albedo(
    material: int, p: np.ndarray, n: np.ndarray, colour: np.ndarray | None, scale: float = 1.0
) -> np.ndarray:
    """Surface colour of ``MATERIALS[material]`` at points ``p`` with normals ``n``. (N, 3) -> (N, 3).

    ``colour`` (3,) tints the texture by the material's ``tint``; ``scale`` stretches the texture.
    """
    if not 0 <= material < len(MATERIALS):
        raise ValueError(f"material index {material} out of range 0..{len(MATERIALS) - 1}")
    base = _TEXTURES[material](np.asarray(p, np.float32) / np.float32(scale), n).astype(np.float32)
    resp = RESPONSES[MATERIALS[material]]
    return _tinted(base, colour, resp.tint, _MEAN_LUMA[material] / resp.shade)


def garment_albedo(p: np.ndarray, n: np.ndarray, colour: np.ndarray | None) -> np.ndarray:
    """Clothing colour at points ``p`` (fabric, a plain weave rather than the gingham of objects)."""
    return _tinted(_garment(np.asarray(p, np.float32), n).astype(np.float32), colour, 0.9, _GARMENT_LUMA)


def _tinted(base: np.ndarray, colour: np.ndarray | None, t: float, mean_luma: float) -> np.ndarray:
    if colour is None or t == 0.0:
        return base
    lum = base @ _LUMA
    painted = np.asarray(colour, np.float32)[None, :] * (lum / mean_luma)[:, None]
    return np.clip((1 - t) * base + t * painted, 0.0, 1.0)

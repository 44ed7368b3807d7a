"""The scene renderer: a vectorised numpy ray caster with labels for every pixel.

``render(spec, size)`` casts one ray per pixel (or ``supersample``² of them) from a pinhole camera
and finds the nearest surface by depth among the floor, the back wall, the objects and the people's
capsules (:mod:`scenecraft.world.geometry`). Each visible point is then shaded by its material
(:mod:`scenecraft.world.materials`) under the scene's directional light, with

- hard shadows (a shadow ray towards the light against every solid),
- contact shading (analytic sphere/capsule ambient occlusion, Quilez's formulation), which darkens
  the floor under objects and feet,
- mirror reflections and glass refraction traced against the floor and wall,
- mild sensor noise (Gaussian, seeded).

Outputs (:class:`Render`): the RGB image, a per-pixel material map, a per-pixel instance map (hence
masks and boxes), depth, each person's 2-D and 3-D joints with visibility, and a caption. Solids only
get tested on the pixels inside their projected bounding sphere, so cost grows with covered area.

Pixel coordinates: ``x`` to the right, ``y`` down, pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scenecraft.world import geometry as geo
from scenecraft.world.captions import caption as write_caption
from scenecraft.world.materials import RESPONSES, albedo, garment_albedo
from scenecraft.world.smpl import SMPLModel, posed_body
from scenecraft.world.spec import COLOURS, MATERIALS, Camera, ObjectSubject, PersonSubject, SceneSpec

MIN_SIZE, MAX_SIZE = 32, 1024
_MAT = {name: i for i, name in enumerate(MATERIALS)}
_HAIR = np.array((0.16, 0.10, 0.06), np.float32)
_SHOES = np.array((0.10, 0.10, 0.11), np.float32)
_SKY_LOW, _SKY_HIGH = np.array((0.80, 0.82, 0.86), np.float32), np.array((0.45, 0.58, 0.80), np.float32)
_SURF_GROUND, _SURF_WALL, _FIRST_SOLID = 1, 2, 3  # hit codes; 0 is the sky


@dataclass(frozen=True)
class View:
    """A pinhole camera as vectors: ``eye`` (3,), unit ``forward``/``right``/``up`` and focal length in px."""

    eye: np.ndarray
    forward: np.ndarray
    right: np.ndarray
    up: np.ndarray
    focal: float
    size: int

    @classmethod
    def from_camera(cls, cam: Camera, size: int) -> View:
        eye = np.asarray(cam.position, float)
        f = np.asarray(cam.look_at, float) - eye
        f /= np.linalg.norm(f)
        r = np.cross(f, (0.0, 1.0, 0.0))
        if np.linalg.norm(r) < 1e-6:  # looking straight up or down
            r = np.array([1.0, 0.0, 0.0])
        r /= np.linalg.norm(r)
        u = np.cross(r, f)
        focal = (size / 2) / math.tan(math.radians(cam.fov_deg) / 2)
        return cls(eye, f, r, u, focal, size)

    def rays(self) -> np.ndarray:
        """Unit ray directions through pixel centres. -> (size, size, 3) float32."""
        c = (np.arange(self.size) + 0.5 - self.size / 2) / self.focal
        d = self.forward + self.right * c[None, :, None] - self.up * c[:, None, None]
        return (d / np.linalg.norm(d, axis=-1, keepdims=True)).astype(np.float32)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> pixel coordinates (N, 2) as (x, y), and depth along the camera (N,)."""
        v = np.asarray(points, float) - self.eye
        z = v @ self.forward
        zs = np.where(np.abs(z) < 1e-9, 1e-9, z)
        x = self.size / 2 + self.focal * (v @ self.right) / zs
        y = self.size / 2 - self.focal * (v @ self.up) / zs
        return np.stack([x, y], 1), z


@dataclass
class _Solid:
    prim: geo.Primitive
    subject: int
    material: int
    colour: np.ndarray | None
    part: str = "body"  # for people: top|bottom|skin|shoes|head


@dataclass
class Render:
    """A rendered scene with its labels. ``S`` is the number of subjects in ``spec``."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    material: np.ndarray  # (H, W) int8, index into spec.MATERIALS, -1 for sky
    instance: np.ndarray  # (H, W) int16, subject index, -1 for floor, wall and sky
    depth: np.ndarray  # (H, W) float32, metres along the camera axis
    boxes: list[tuple[int, int, int, int] | None]  # S visible boxes (x0, y0, x1, y1), end exclusive, px
    joints2d: dict[int, np.ndarray]  # subject index -> (24, 2) pixel (x, y)
    joints3d: dict[int, np.ndarray]  # subject index -> (24, 3) world metres
    joints_visible: dict[int, np.ndarray]  # subject index -> (24,) bool, in frame and not hidden
    caption: str
    spec: SceneSpec

    def masks(self) -> np.ndarray:
        """Instance masks (S, H, W) bool."""
        return self.instance[None] == np.arange(len(self.spec.subjects))[:, None, None]

    def annotations(self) -> dict[str, Any]:
        """Everything except the pixel maps, as JSON-ready data."""
        subjects = []
        for i, s in enumerate(self.spec.subjects):
            entry: dict[str, Any] = {"index": i, "kind": s.kind, "box": self.boxes[i]}
            if isinstance(s, ObjectSubject):
                entry.update(shape=s.shape, material=s.material, colour=s.colour)
            else:
                entry.update(
                    top_colour=s.top_colour,
                    bottom_colour=s.bottom_colour,
                    action=s.action,
                    joints2d=np.round(self.joints2d[i], 2).tolist(),
                    joints3d=np.round(self.joints3d[i], 4).tolist(),
                    joints_visible=self.joints_visible[i].astype(int).tolist(),
                )
            subjects.append(entry)
        counts = np.bincount(self.material.ravel(), minlength=len(MATERIALS)) / self.material.size
        return {
            "size": int(self.image.shape[0]),
            "caption": self.caption,
            "subjects": subjects,
            "material_fractions": {
                m: round(float(c), 5) for m, c in zip(MATERIALS, counts, strict=True) if c > 0
            },
            "spec": self.spec.model_dump(mode="json"),
        }


def _solids(spec: SceneSpec, smpl_model: SMPLModel | None) -> tuple[list[_Solid], dict[int, Any]]:
    solids: list[_Solid] = []
    bodies: dict[int, Any] = {}
    for k, s in enumerate(spec.subjects):
        if isinstance(s, ObjectSubject):
            prim = geo.object_primitive(s.shape, s.size, s.position, s.yaw_deg)
            solids.append(_Solid(prim, k, _MAT[s.material], np.asarray(COLOURS[s.colour], np.float32)))
            continue
        body = posed_body(s.body_pose, s.global_orient, s.betas, s.position, s.scale, smpl_model)
        bodies[k] = body
        looks = {
            "top": (_MAT["fabric"], COLOURS[s.top_colour]),
            "bottom": (_MAT["fabric"], COLOURS[s.bottom_colour]),
            "skin": (_MAT["skin"], None),
            "shoes": (_MAT["rubber"], _SHOES),
        }
        for a, b, r, part in body.capsules:
            mat, col = looks[part]
            prim = geo.Primitive("capsule", np.zeros(3), radius=r, a=a, b=b)
            solids.append(_Solid(prim, k, mat, None if col is None else np.asarray(col, np.float32), part))
        head = geo.Primitive("sphere", body.head_centre, radius=body.head_radius)
        solids.append(_Solid(head, k, _MAT["skin"], None, "head"))
    return solids, bodies


def _plane_hits(o: np.ndarray, d: np.ndarray, wall_z: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance and hit code (ground/wall/sky) of rays against the floor and wall. (N, 3) -> (N,), (N,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tg = np.where(d[:, 1] < -1e-9, -o[:, 1] / d[:, 1], np.inf)
        tw = np.where(d[:, 2] < -1e-9, (wall_z - o[:, 2]) / d[:, 2], np.inf)
    tg = np.where(tg > geo.EPS, tg, np.inf)
    tw = np.where(tw > geo.EPS, tw, np.inf)
    code = np.where(np.isinf(np.minimum(tg, tw)), 0, np.where(tg <= tw, _SURF_GROUND, _SURF_WALL))
    return np.minimum(tg, tw).astype(np.float32), code.astype(np.int16)


def _surface_albedo(spec: SceneSpec, code: np.ndarray, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Albedo of floor/wall points. code (N,), p (N, 3), n (N, 3) -> (N, 3)."""
    out = np.zeros((len(code), 3), np.float32)
    for c, surf in ((_SURF_GROUND, spec.ground), (_SURF_WALL, spec.background)):
        m = code == c
        if m.any():
            col = None if surf.colour is None else np.asarray(COLOURS[surf.colour], np.float32)
            out[m] = albedo(_MAT[surf.material], p[m], n[m], col, surf.texture_scale)
    return out


def _environment(spec: SceneSpec, o: np.ndarray, d: np.ndarray, light_dir: np.ndarray) -> np.ndarray:
    """Colour seen along secondary rays: the textured floor and wall lit without shadows, else sky."""
    t, code = _plane_hits(o, d, -spec.background.distance)
    col = _SKY_LOW + (_SKY_HIGH - _SKY_LOW) * np.clip(d[:, 1:2], 0, 1)
    col = col + np.clip(d @ light_dir, 0, 1)[:, None] ** 64 * 2.0  # the light's own glare
    hit = code > 0
    if hit.any():
        p = o[hit] + t[hit, None] * d[hit]
        n = np.where(
            (code[hit] == _SURF_GROUND)[:, None],
            np.asarray((0, 1, 0), np.float32),
            np.asarray((0, 0, 1), np.float32),
        )
        lit = spec.light.ambient + spec.light.intensity * np.clip(n @ light_dir, 0, 1)
        col[hit] = (
            _surface_albedo(spec, code[hit], p, n) * lit[:, None] * np.asarray(spec.light.colour, np.float32)
        )
    return col.astype(np.float32)


def person_joints(
    spec: SceneSpec, size: int, smpl_model: SMPLModel | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each person's joints without rendering: subject index -> (2-D pixels (24, 2), 3-D world (24, 3)).

    The same numbers as ``render(spec, size).joints2d/joints3d``, at the cost of the kinematics
    only; pair them with ``smpl.PARENTS`` to draw a skeleton map for pose conditioning.
    """
    view = View.from_camera(spec.camera, size)
    out = {}
    for k, s in enumerate(spec.subjects):
        if isinstance(s, PersonSubject):
            body = posed_body(s.body_pose, s.global_orient, s.betas, s.position, s.scale, smpl_model)
            out[k] = (view.project(body.joints)[0].astype(np.float32), body.joints.astype(np.float32))
    return out


def render(
    spec: SceneSpec,
    size: int = 128,
    seed: int = 0,
    noise: float = 0.012,
    supersample: int = 1,
    smpl_model: SMPLModel | None = None,
) -> Render:
    """Render ``spec`` as a ``size`` x ``size`` image with labels; ``seed`` drives noise and caption."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if supersample not in (1, 2, 3, 4):
        raise ValueError(f"supersample must be 1, 2, 3 or 4, got {supersample}")
    if not 0.0 <= noise <= 0.2:
        raise ValueError(f"noise must be a standard deviation in 0..0.2, got {noise}")
    rng = np.random.default_rng(seed)
    res = size * supersample
    view = View.from_camera(spec.camera, res)
    dirs = view.rays()  # (R, R, 3)
    eye = view.eye.astype(np.float32)
    solids, bodies = _solids(spec, smpl_model)
    light_dir = np.asarray(spec.light.direction(), np.float32)
    light_col = np.asarray(spec.light.colour, np.float32) * spec.light.intensity

    # 1. Nearest surface per pixel: planes everywhere, each solid inside its projected bound.
    flat = dirs.reshape(-1, 3)
    t_best, code = _plane_hits(np.broadcast_to(eye, flat.shape), flat, -spec.background.distance)
    t_best, code = t_best.reshape(res, res), code.reshape(res, res)
    for k, s in enumerate(solids):
        centre, radius = s.prim.bound()
        (cx, cy), z = (v[0] for v in view.project(centre[None]))
        if z - radius > 0.05:
            rpx = view.focal * radius / (z - radius) + 2
            i0, i1 = max(int(cy - rpx), 0), min(int(cy + rpx) + 1, res)
            j0, j1 = max(int(cx - rpx), 0), min(int(cx + rpx) + 1, res)
        else:
            i0, i1, j0, j1 = 0, res, 0, res
        if i0 >= i1 or j0 >= j1:
            continue
        d = dirs[i0:i1, j0:j1].reshape(-1, 3)
        t = s.prim.hit(np.broadcast_to(eye, d.shape), d).reshape(i1 - i0, j1 - j0)
        win = t < t_best[i0:i1, j0:j1]
        t_best[i0:i1, j0:j1][win] = t[win]
        code[i0:i1, j0:j1][win] = _FIRST_SOLID + k

    # 2. Surface points, normals, materials, albedo, per-material responses.
    code_f = code.ravel()
    hit = code_f > 0
    tf = np.where(hit, t_best.ravel(), 0.0).astype(np.float32)
    p = eye + tf[:, None] * flat
    n = np.zeros_like(p)
    n[code_f == _SURF_GROUND] = (0, 1, 0)
    n[code_f == _SURF_WALL] = (0, 0, 1)
    mat = np.full(len(p), -1, np.int16)
    mat[code_f == _SURF_GROUND] = _MAT[spec.ground.material]
    mat[code_f == _SURF_WALL] = _MAT[spec.background.material]
    alb = np.zeros_like(p)
    surf = (code_f == _SURF_GROUND) | (code_f == _SURF_WALL)
    alb[surf] = _surface_albedo(spec, code_f[surf], p[surf], n[surf])
    instance = np.full(len(p), -1, np.int16)
    order = np.argsort(code_f, kind="stable")
    bounds = np.searchsorted(code_f[order], np.arange(_FIRST_SOLID, _FIRST_SOLID + len(solids) + 1))
    for k, s in enumerate(solids):
        idx = order[bounds[k] : bounds[k + 1]]
        if idx.size == 0:
            continue
        n[idx] = s.prim.normal(p[idx])
        mat[idx] = s.material
        instance[idx] = s.subject
        local = s.prim.local_points(p[idx]) if s.part == "body" else p[idx] - bodies[s.subject].joints[0]
        if s.part in ("top", "bottom"):
            alb[idx] = garment_albedo(local, n[idx], s.colour)
        else:
            alb[idx] = albedo(s.material, local, n[idx], s.colour)
        if s.part == "head":  # hair on the back and top of the head, the face towards head_forward
            body = bodies[s.subject]
            hair = (n[idx] @ body.head_forward < -0.15) | (n[idx] @ body.head_up > 0.55)
            alb[idx[hair]] = _HAIR
    # Make normals face the viewer (rays may start inside nothing, but be safe at grazing angles).
    flip = np.einsum("ij,ij->i", n, flat) > 0
    n[flip & surf] *= -1

    # 3. Light: shadows and contact shading.
    lit_side = (n @ light_dir > 0) & hit
    shadow = np.ones(len(p), np.float32)
    so_idx = np.nonzero(lit_side)[0]
    so = p[so_idx] + n[so_idx] * 2e-3
    sd = np.broadcast_to(light_dir, so.shape)
    blocked = np.zeros(len(so_idx), bool)
    for s in solids:
        centre, radius = s.prim.bound()
        oc = so - centre
        b = oc @ light_dir
        near = (b * b - (np.einsum("ij,ij->i", oc, oc) - radius**2) > 0) & (b < radius) & ~blocked
        if near.any():
            blocked[near] |= np.isfinite(s.prim.hit(so[near], sd[near]))
    shadow[so_idx[blocked]] = 0.0
    ao = np.ones(len(p), np.float32)
    for k, s in enumerate(solids):
        own = code_f == _FIRST_SOLID + k
        if s.prim.kind == "capsule":
            ba = s.prim.b - s.prim.a
            h = np.clip((p - s.prim.a) @ ba / max(float(ba @ ba), 1e-12), 0, 1)
            c = s.prim.a + h[:, None] * ba
            r = s.prim.radius
        else:
            c, r = s.prim.bound()
            r *= 0.85
        v = c - p
        dist = np.maximum(np.linalg.norm(v, axis=1), 1e-6)
        term = np.clip(np.einsum("ij,ij->i", n, v) / dist, 0, 1) * np.minimum((r / dist) ** 2, 1.0)
        ao *= np.where(own | ~hit, 1.0, 1.0 - 0.75 * term)

    # 4. Shading.
    resp = [RESPONSES[m] for m in MATERIALS]
    lut = {
        f: np.array([getattr(r, f) for r in resp] + [0.0], np.float32)
        for f in ("diffuse", "specular", "shininess", "reflect", "transparency", "sheen")
    }  # index -1 -> sky
    w = {f: arr[mat] for f, arr in lut.items()}
    view_dir = -flat
    ndl = np.clip(n @ light_dir, 0, 1) * shadow
    half = light_dir + view_dir
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    ndh = np.clip(np.einsum("ij,ij->i", n, half), 0, 1)
    ndv = np.clip(np.einsum("ij,ij->i", n, view_dir), 0, 1)
    fresnel = 0.04 + 0.96 * (1 - ndv) ** 5
    col = alb * (
        spec.light.ambient * ao[:, None] * np.asarray((0.95, 0.97, 1.0), np.float32)
        + light_col * (w["diffuse"] * ndl)[:, None]
    )
    col += alb * ((w["sheen"] * (1 - ndv) ** 2) * (0.5 + ndl))[:, None] * light_col
    spec_term = w["specular"] * ndh ** np.maximum(w["shininess"], 1.0) * (ndl > 0)
    col += spec_term[:, None] * light_col
    mirror = np.nonzero((w["reflect"] > 0) | (w["transparency"] > 0))[0]
    if mirror.size:
        m_p, m_n, m_d = p[mirror], n[mirror], flat[mirror]
        refl_dir = m_d - 2 * np.einsum("ij,ij->i", m_d, m_n)[:, None] * m_n
        env = _environment(spec, m_p + m_n * 2e-3, refl_dir, light_dir) * ao[mirror, None]
        k_r = np.clip(w["reflect"][mirror] + fresnel[mirror] * 0.5 * (w["reflect"][mirror] > 0.2), 0, 1)
        tint = alb[mirror] * 0.6 + 0.4
        col[mirror] = (
            col[mirror] * (1 - k_r[:, None]) + env * tint * k_r[:, None] + spec_term[mirror, None] * light_col
        )
        glass = w["transparency"][mirror]
        if (glass > 0).any():
            bent = m_d - 0.35 * m_n
            bent /= np.linalg.norm(bent, axis=1, keepdims=True)
            through = _environment(spec, m_p - m_n * 2e-3, bent, light_dir) * alb[mirror] * 0.9
            rim = fresnel[mirror, None] * env
            col[mirror] = np.where(
                (glass > 0)[:, None],
                col[mirror] * (1 - glass[:, None]) + (through + rim) * glass[:, None],
                col[mirror],
            )
    sky = ~hit
    col[sky] = _SKY_LOW + (_SKY_HIGH - _SKY_LOW) * np.clip(flat[sky, 1:2], 0, 1)

    # 5. Film: downsample supersampled colour, add sensor noise, quantise. Labels from pixel centres.
    img = col.reshape(res, res, 3)
    depth = (t_best * (dirs @ view.forward.astype(np.float32))).astype(np.float32)
    if supersample > 1:
        img = img.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
        c0 = supersample // 2
        pick = (slice(c0, None, supersample), slice(c0, None, supersample))
        mat_map, inst_map, depth = mat.reshape(res, res)[pick], instance.reshape(res, res)[pick], depth[pick]
    else:
        mat_map, inst_map = mat.reshape(res, res), instance.reshape(res, res)
    img = np.clip(img, 0, 1) ** (1 / 1.1)
    if noise > 0:
        img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
    image = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    depth = np.where(np.isfinite(depth), depth, np.float32(1e4)).astype(np.float32)
    mat_map = mat_map.astype(np.int8)

    # 6. Labels: boxes, joints.
    boxes: list[tuple[int, int, int, int] | None] = []
    for k in range(len(spec.subjects)):
        ys, xs = np.nonzero(inst_map == k)
        boxes.append(
            (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if xs.size >= 4 else None
        )
    out_view = View.from_camera(spec.camera, size)
    joints2d, joints3d, visible = {}, {}, {}
    for k, body in bodies.items():
        uv, z = out_view.project(body.joints)
        col_i = np.clip(np.floor(uv[:, 1]).astype(int), 0, size - 1)
        col_j = np.clip(np.floor(uv[:, 0]).astype(int), 0, size - 1)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < size) & (uv[:, 1] >= 0) & (uv[:, 1] < size) & (z > 0)
        front = (inst_map[col_i, col_j] == k) | (
            z <= depth[col_i, col_j] + 0.12 * float(getattr(spec.subjects[k], "scale", 1.0))
        )
        joints2d[k], joints3d[k], visible[k] = (
            uv.astype(np.float32),
            body.joints.astype(np.float32),
            inside & front,
        )
    text = write_caption(spec, rng, view=out_view)
    return Render(
        image=image,
        material=mat_map,
        instance=inst_map,
        depth=depth,
        boxes=boxes,
        joints2d=joints2d,
        joints3d=joints3d,
        joints_visible=visible,
        caption=text,
        spec=spec,
    )

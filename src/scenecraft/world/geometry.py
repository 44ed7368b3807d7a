"""Ray intersection with the world's solids, vectorised over rays.

Each :class:`Primitive` lives in its own frame (``centre`` plus a rotation ``frame`` whose columns
are the local axes in world coordinates). ``hit(origins, dirs)`` returns the distance along each
ray to the first surface in front of it (``inf`` for a miss); ``normal(points)`` the unit outward
normals at surface points. Closed forms for the sphere (a quadratic), capsule (Quilez's capsule
intersection), box (slabs), cylinder and cone (quadratics plus caps); the torus is sphere-traced
on its signed distance (Hart, 1996, "Sphere tracing") inside its bounding sphere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPS = 1e-4
INF = np.float32(np.inf)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _nearest_positive(t0: np.ndarray, t1: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The smaller root in front of the ray, inf where none. All (N,)."""
    t = np.where(t0 > EPS, t0, np.where(t1 > EPS, t1, INF))
    return np.where(ok, t, INF)


@dataclass
class Primitive:
    """A solid: ``kind`` in sphere|box|cylinder|cone|torus|capsule with its size parameters."""

    kind: str
    centre: np.ndarray  # (3,) world position of the local origin
    frame: np.ndarray = field(default_factory=lambda: np.eye(3))  # (3, 3) local axes as columns
    radius: float = 0.5  # sphere/cylinder/cone/capsule radius, torus major radius
    half: np.ndarray = field(default_factory=lambda: np.full(3, 0.5))  # box half extents
    height: float = 1.0  # cylinder/cone height
    minor: float = 0.1  # torus tube radius
    a: np.ndarray = field(default_factory=lambda: np.zeros(3))  # capsule end points (local)
    b: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def bound(self) -> tuple[np.ndarray, float]:
        """A bounding sphere (world centre, radius)."""
        if self.kind == "sphere":
            r = self.radius
        elif self.kind == "box":
            r = float(np.linalg.norm(self.half))
        elif self.kind in ("cylinder", "cone"):
            r = float(np.hypot(self.radius, self.height / 2))
        elif self.kind == "torus":
            r = self.radius + self.minor
        else:  # capsule
            mid = (self.a + self.b) / 2
            return self.centre + self.frame @ mid, float(np.linalg.norm(self.b - self.a) / 2 + self.radius)
        return self.centre, r

    def _local(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (o - self.centre) @ self.frame, d @ self.frame

    def hit(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Distance to the first hit along each unit ray, inf for a miss. (N, 3) x2 -> (N,)."""
        o, d = self._local(origins, dirs)
        return getattr(self, f"_hit_{self.kind}")(o, d).astype(np.float32)

    def normal(self, points: np.ndarray) -> np.ndarray:
        """Unit outward normals in world coordinates at surface points. (N, 3) -> (N, 3)."""
        p = (points - self.centre) @ self.frame
        n = getattr(self, f"_normal_{self.kind}")(p)
        return _unit(n @ self.frame.T).astype(np.float32)

    def local_points(self, points: np.ndarray) -> np.ndarray:
        """World points in this solid's frame (for textures that move with it). (N, 3) -> (N, 3)."""
        return (points - self.centre) @ self.frame

    # --- sphere -------------------------------------------------------------------------------
    def _hit_sphere(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        b = _dot(o, d)
        c = _dot(o, o) - self.radius**2
        disc = b * b - c
        s = np.sqrt(np.maximum(disc, 0))
        return _nearest_positive(-b - s, -b + s, disc >= 0)

    def _normal_sphere(self, p: np.ndarray) -> np.ndarray:
        return p

    # --- capsule (segment a-b swept by a sphere) ---------------------------------------------
    def _hit_capsule(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        ba = self.b - self.a
        oa = o - self.a
        baba = float(ba @ ba)
        bard, baoa = d @ ba, oa @ ba
        rdoa, oaoa = _dot(d, oa), _dot(oa, oa)
        r2 = self.radius**2
        qa = np.maximum(baba - bard * bard, 1e-12)
        qb = baba * rdoa - baoa * bard
        qc = baba * oaoa - baoa * baoa - r2 * baba
        h = qb * qb - qa * qc
        t_side = (-qb - np.sqrt(np.maximum(h, 0))) / qa
        y = baoa + t_side * bard
        side_ok = (h >= 0) & (y > 0) & (y < baba) & (t_side > EPS)
        # End caps: the sphere at a (y <= 0) or at b (y >= baba).
        oc = np.where((y <= 0)[:, None], oa, o - self.b)
        cb = _dot(d, oc)
        cc = _dot(oc, oc) - r2
        hc = cb * cb - cc
        t_cap = np.where(
            (hc > 0) & (-cb - np.sqrt(np.maximum(hc, 0)) > EPS), -cb - np.sqrt(np.maximum(hc, 0)), INF
        )
        return np.where(side_ok, t_side, np.where(h >= 0, t_cap, INF))

    def _normal_capsule(self, p: np.ndarray) -> np.ndarray:
        ba = self.b - self.a
        s = np.clip((p - self.a) @ ba / max(float(ba @ ba), 1e-12), 0, 1)
        return p - (self.a + s[:, None] * ba)

    # --- box ----------------------------------------------------------------------------------
    def _hit_box(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
        t1, t2 = (-self.half - o) * inv, (self.half - o) * inv
        tn = np.minimum(t1, t2).max(axis=1)
        tf = np.maximum(t1, t2).min(axis=1)
        return _nearest_positive(tn, tf, tn <= tf)

    def _normal_box(self, p: np.ndarray) -> np.ndarray:
        q = p / self.half
        axis = np.abs(q).argmax(axis=1)
        n = np.zeros_like(p)
        n[np.arange(len(p)), axis] = np.sign(q[np.arange(len(p)), axis])
        return n

    # --- cylinder (axis y, from -height/2 to +height/2) ----------------------------------------
    def _hit_cylinder(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        h2, r = self.height / 2, self.radius
        qa = np.maximum(d[:, 0] ** 2 + d[:, 2] ** 2, 1e-12)
        qb = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2]
        qc = o[:, 0] ** 2 + o[:, 2] ** 2 - r * r
        disc = qb * qb - qa * qc
        s = np.sqrt(np.maximum(disc, 0))
        best = np.full(len(o), INF)
        for t in ((-qb - s) / qa, (-qb + s) / qa):
            y = o[:, 1] + t * d[:, 1]
            ok = (disc >= 0) & (t > EPS) & (np.abs(y) <= h2)
            best = np.where(ok & (t < best), t, best)
        with np.errstate(divide="ignore", invalid="ignore"):
            for cap in (-h2, h2):
                t = (cap - o[:, 1]) / d[:, 1]
                x, z = o[:, 0] + t * d[:, 0], o[:, 2] + t * d[:, 2]
                ok = np.isfinite(t) & (t > EPS) & (x * x + z * z <= r * r)
                best = np.where(ok & (t < best), t, best)
        return best

    def _normal_cylinder(self, p: np.ndarray) -> np.ndarray:
        h2 = self.height / 2
        on_cap = np.abs(np.abs(p[:, 1]) - h2) < 1e-3 * max(self.height, 1.0)
        radial = np.stack([p[:, 0], np.zeros(len(p)), p[:, 2]], 1)
        cap = np.stack([np.zeros(len(p)), np.sign(p[:, 1]), np.zeros(len(p))], 1)
        return np.where(on_cap[:, None], cap, radial)

    # --- cone (base radius at y=-height/2, apex at +height/2) ----------------------------------
    def _hit_cone(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        h2, k = self.height / 2, self.radius / self.height
        w = h2 - o[:, 1]  # distance below the apex
        qa = d[:, 0] ** 2 + d[:, 2] ** 2 - k * k * d[:, 1] ** 2
        qb = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2] + k * k * w * d[:, 1]
        qc = o[:, 0] ** 2 + o[:, 2] ** 2 - k * k * w * w
        qa = np.where(np.abs(qa) < 1e-12, 1e-12, qa)
        disc = qb * qb - qa * qc
        s = np.sqrt(np.maximum(disc, 0))
        best = np.full(len(o), INF)
        for t in ((-qb - s) / qa, (-qb + s) / qa):
            y = o[:, 1] + t * d[:, 1]
            ok = (disc >= 0) & (t > EPS) & (y >= -h2) & (y <= h2)
            best = np.where(ok & (t < best), t, best)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (-h2 - o[:, 1]) / d[:, 1]
            x, z = o[:, 0] + t * d[:, 0], o[:, 2] + t * d[:, 2]
            ok = np.isfinite(t) & (t > EPS) & (x * x + z * z <= self.radius**2)
        return np.where(ok & (t < best), t, best)

    def _normal_cone(self, p: np.ndarray) -> np.ndarray:
        h2, k = self.height / 2, self.radius / self.height
        rho = np.hypot(p[:, 0], p[:, 2])
        side = np.stack([p[:, 0], k * rho, p[:, 2]], 1)
        base = np.abs(p[:, 1] + h2) < 1e-3 * max(self.height, 1.0)
        return np.where(base[:, None], np.array([0.0, -1.0, 0.0]), side)

    # --- torus (axis y, major radius, tube radius minor) ----------------------------------------
    def _sdf_torus(self, p: np.ndarray) -> np.ndarray:
        q = np.hypot(p[:, 0], p[:, 2]) - self.radius
        return np.hypot(q, p[:, 1]) - self.minor

    def _hit_torus(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        rb = self.radius + self.minor
        b = _dot(o, d)
        disc = b * b - (_dot(o, o) - rb * rb)
        out = np.full(len(o), INF)
        idx = np.nonzero((disc > 0) & (-b + np.sqrt(np.maximum(disc, 0)) > EPS))[0]
        if idx.size == 0:
            return out
        t = np.maximum(-b[idx] - np.sqrt(disc[idx]), 0.0)
        t_exit = -b[idx] + np.sqrt(disc[idx])
        oo, dd = o[idx], d[idx]
        tol = 1e-4 * rb
        for _ in range(48):  # sphere tracing: the SDF is a safe step length
            dist = self._sdf_torus(oo + t[:, None] * dd)
            t = t + np.where(dist > tol, dist, 0.0)
        dist = self._sdf_torus(oo + t[:, None] * dd)
        out[idx] = np.where((np.abs(dist) < 4 * tol) & (t <= t_exit) & (t > EPS), t, INF)
        return out

    def _normal_torus(self, p: np.ndarray) -> np.ndarray:
        rho = np.maximum(np.hypot(p[:, 0], p[:, 2]), 1e-9)
        f = 1.0 - self.radius / rho
        return np.stack([p[:, 0] * f, p[:, 1], p[:, 2] * f], 1)


def rotation_y(deg: float) -> np.ndarray:
    """Rotation matrix about the vertical axis."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_x(deg: float) -> np.ndarray:
    """Rotation matrix about the x axis."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def object_primitive(
    shape: str, size: float, position: tuple[float, float, float], yaw_deg: float
) -> Primitive:
    """The solid for a scene object of ``size`` metres, its lowest point at ``position``."""
    x, y0, z = position
    rot = rotation_y(yaw_deg)
    if shape == "sphere":
        r = size / 2
        return Primitive("sphere", np.array([x, y0 + r, z]), rot, radius=r)
    if shape == "cube":
        h = size * 0.4
        return Primitive("box", np.array([x, y0 + h, z]), rot, half=np.full(3, h))
    if shape == "cylinder":
        hgt = size * 0.95
        return Primitive("cylinder", np.array([x, y0 + hgt / 2, z]), rot, radius=size * 0.38, height=hgt)
    if shape == "cone":
        hgt = size * 1.05
        return Primitive("cone", np.array([x, y0 + hgt / 2, z]), rot, radius=size * 0.48, height=hgt)
    if shape == "torus":
        tilt = 65.0  # a ring leaning back, so the camera sees its hole
        big, tube = size * 0.34, size * 0.14
        lift = big * np.sin(np.radians(tilt)) + tube
        return Primitive("torus", np.array([x, y0 + lift, z]), rot @ rotation_x(tilt), radius=big, minor=tube)
    if shape == "capsule":
        r, hgt = size * 0.26, size * 1.1
        half = np.array([0.0, hgt / 2 - r, 0.0])
        return Primitive("capsule", np.array([x, y0 + hgt / 2, z]), rot, radius=r, a=-half, b=half)
    raise ValueError(f"unknown shape {shape!r}")

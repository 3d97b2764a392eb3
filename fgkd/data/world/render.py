"""The rasteriser: draws a batch of images from attribute rows (:func:`render_images`).

Analytic anti-aliased shapes (ellipses, convex polygons, boxes) in each image's object frame, one
drawing per domain, scene backgrounds, clutter, occluders, light and pixel noise, vectorised numpy
over a batch. Deterministic given its arguments; :data:`RENDER_VERSION` versions the drawing.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from fgkd.data.world.domains import DOMAINS, JITTER_GAIN, JITTER_OFFSET, PALETTE, DomainSpec, _domain_code

# Bump when drawing changes, so stale cached renders are never reused (World.cache_key holds it).
RENDER_VERSION = 1

# The image spans [-1, 1] x [-1, 1] (x right, y down). Each image has an object frame (u, v), the
# inverse of its pose: the object is drawn facing +u, centred at the origin, about 1.8 units long.
# Shapes are signed distances in *pixels* (inside > 0), so one formula gives a one-pixel
# anti-aliased edge, and the same distance shifted by a pixel gives the darker rim around a part,
# at any image size. All arrays are float32 [N, H, W] (one plane per colour channel).

_BATCH_PIXELS = 1 << 16  # pixels per batch: keeps the working planes (256 KiB) in cache
_F = np.float32


def _col(x: Any) -> np.ndarray:
    """Per-image parameters [N] -> [N, 1, 1] for broadcasting against [N, H, W]."""
    return np.asarray(x, dtype=_F).reshape(-1, 1, 1)


def _alpha(d: np.ndarray, grow: float = 0.0) -> np.ndarray:
    """Coverage from a signed pixel distance: clamp(d + 0.5 + grow, 0, 1), a new array."""
    a = d + _F(0.5 + grow)
    return np.clip(a, 0.0, 1.0, out=a)


def _frame(u: np.ndarray, v: np.ndarray, cx: Any, cy: Any = 0.0, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates relative to (cx, cy), rotated so the local +u axis points at ``angle`` radians."""
    du, dv = u - cx, v - cy
    if angle:
        c, s = _F(math.cos(angle)), _F(math.sin(angle))
        du, dv = du * c + dv * s, dv * c - du * s
    return du, dv


def _ellipse(du: np.ndarray, dv: np.ndarray, rx: Any, ry: Any, ie: Any) -> np.ndarray:
    """Ellipse of semi-axes (rx, ry); ``ie`` is pixels per unit. Near the rim the signed distance
    is (1 - q) * r / 2 with q = (du/rx)^2 + (dv/ry)^2 and r the smaller semi-axis."""
    q = du * (1.0 / np.asarray(rx, dtype=_F))
    np.square(q, out=q)
    t = dv * (1.0 / np.asarray(ry, dtype=_F))
    np.square(t, out=t)
    q = q + t  # not in place: du and dv may broadcast (e.g. [N, 1, W] and [N, H, 1])
    q -= 1.0
    q *= -np.minimum(rx, ry) * 0.5 * ie
    return q


def _circle(du: np.ndarray, dv: np.ndarray, r: Any, ie: Any) -> np.ndarray:
    """Circle of radius r: the exact signed distance, so it can be shrunk (hubs) or grown (rims)."""
    q = np.square(du)
    q += np.square(dv)
    np.sqrt(q, out=q)
    q -= r
    q *= -ie
    return q


def _rounded_box(du: np.ndarray, dv: np.ndarray, hx: Any, hy: Any, ie: Any) -> np.ndarray:
    """Superellipse |du/hx|^4 + |dv/hy|^4 <= 1: a box with rounded corners."""
    q = du * (1.0 / np.asarray(hx, dtype=_F))
    np.square(q, out=q)
    np.square(q, out=q)
    t = dv * (1.0 / np.asarray(hy, dtype=_F))
    np.square(t, out=t)
    np.square(t, out=t)
    q += t
    q -= 1.0
    q *= -np.minimum(hx, hy) * 0.25 * ie
    return q


def _box(du: np.ndarray, dv: np.ndarray, hx: Any, hy: Any, ie: Any) -> np.ndarray:
    d = hx - np.abs(du)
    np.minimum(d, hy - np.abs(dv), out=d)
    d *= ie
    return d


def _polygon(u: np.ndarray, v: np.ndarray, verts: np.ndarray, ie: Any) -> np.ndarray:
    """Convex polygon, ``verts`` [N, K, 2] or [K, 2] in either winding: min over edges of the
    distance to the edge's line, measured along its inward normal."""
    verts = np.asarray(verts, dtype=_F)
    if verts.ndim == 2:
        verts = verts[None]
    p0, p1 = verts, np.roll(verts, -1, axis=1)
    e = p1 - p0
    winding = np.sign((p0[..., 0] * p1[..., 1] - p1[..., 0] * p0[..., 1]).sum(1, keepdims=True))
    scale = winding / np.maximum(np.hypot(e[..., 0], e[..., 1]), 1e-6)
    ie = np.asarray(ie, dtype=_F).reshape(-1, 1)
    nx, ny = -e[..., 1] * scale * ie, e[..., 0] * scale * ie  # inward normals, pixel units [N, K]
    offset = nx * p0[..., 0] + ny * p0[..., 1]
    d = None
    for k in range(verts.shape[1]):
        dk = u * _col(nx[:, k])
        dk += v * _col(ny[:, k])
        dk -= _col(offset[:, k])
        d = dk if d is None else np.minimum(d, dk, out=d)
    return d


def _wave(t: np.ndarray, period: float) -> np.ndarray:
    """Distance (in periods, 0..0.5) from t to the nearest band centre at (k + 1/2) * period."""
    f = t * _F(1.0 / period)
    f -= np.floor(f)
    f -= 0.5
    return np.abs(f, out=f)


def _bands(t: np.ndarray, period: float, duty: float, ie: Any) -> np.ndarray:
    """Parallel bands across coordinate t, covering ``duty`` of each period."""
    d = _wave(t, period)
    d -= duty / 2
    d *= -period * ie
    return d


def _spots(a: np.ndarray, b: np.ndarray, period: float, radius: float, ie: Any) -> np.ndarray:
    """Round spots of ``radius`` on a square lattice of ``period``."""
    q = np.square(_wave(a, period))
    q += np.square(_wave(b, period))
    r = radius / period
    q -= r * r
    q *= -period / (2 * r) * ie
    return q


def _checker(a: np.ndarray, b: np.ndarray, period: float, ie: Any) -> np.ndarray:
    """A checkerboard of squares of side period / 2."""
    fa, fb = _wave(a, period) - 0.25, _wave(b, period) - 0.25
    d = np.minimum(np.abs(fa), np.abs(fb))
    d *= np.sign(fa * fb) * period * ie
    return d


def _shade(color: np.ndarray) -> np.ndarray:
    return np.asarray(color, dtype=_F) * _F(0.55)


def _contrast(color: np.ndarray) -> np.ndarray:
    """A pattern colour that reads on ``color`` [N, 3]: darker on light colours, lighter on dark."""
    luminance = color @ np.array([0.3, 0.59, 0.11], dtype=_F)
    return np.where((luminance > 0.42)[:, None], color * 0.35, color * 0.35 + 0.6).astype(_F)


def _blend(rgb: np.ndarray, alpha: np.ndarray, color: Any, buf: np.ndarray | None = None) -> None:
    """rgb [3, N, H, W] += alpha * (color - rgb); ``color`` is [3] or [N, 3]."""
    color = np.asarray(color, dtype=_F)
    buf = np.empty_like(rgb[0]) if buf is None else buf
    for c in range(3):
        plane = rgb[c]
        np.subtract(color[c] if color.ndim == 1 else _col(color[:, c]), plane, out=buf)
        buf *= alpha
        plane += buf


class _Canvas:
    """RGB planes [3, N, H, W] in [0, 1] and each image's object frame (u, v) and pixels per unit."""

    def __init__(self, rgb: np.ndarray, u: np.ndarray, v: np.ndarray, ie: np.ndarray):
        self.rgb, self.u, self.v, self.ie = rgb, u, v, ie
        self.n = rgb.shape[1]
        self._buf = np.empty_like(u)

    def paint(self, alpha: np.ndarray, color: Any) -> None:
        _blend(self.rgb, alpha, color, self._buf)

    def fill(self, d: np.ndarray, color: Any, rim: bool = True) -> np.ndarray:
        """Paint a shape from its signed distance, with a darker one-pixel rim; returns its alpha.

        One blend does both: the cover reaches a pixel further than the shape, and the colour
        fades to 55 % where the shape's own alpha falls, which reads as an outline or shading."""
        alpha = _alpha(d)
        if not rim:
            self.paint(alpha, color)
            return alpha
        cover = _alpha(d, 1.0)
        fade = alpha * _F(0.45)
        fade += _F(0.55)
        color = np.asarray(color, dtype=_F)
        buf = self._buf
        for c in range(3):
            plane = self.rgb[c]
            np.multiply(fade, color[c] if color.ndim == 1 else _col(color[:, c]), out=buf)
            buf -= plane
            buf *= cover
            plane += buf
        return alpha

    def detail(self, images: np.ndarray, distance: Callable[[np.ndarray], np.ndarray], color: Any,
               within: np.ndarray | None = None, rim: bool = False) -> None:
        """Paint a shape only some images have (patterns, crests), on those images only.

        ``distance(idx)`` gives the shape's signed pixel distance [m, H, W] for images ``idx``;
        ``within`` (alpha of a part, [N, H, W]) clips it to that part, e.g. stripes to the body.
        """
        idx = np.flatnonzero(images)
        if not len(idx):
            return
        d = distance(idx)
        color = np.asarray(color, dtype=_F)
        color = color[idx] if color.ndim == 2 else color
        sub = self.rgb[:, idx]
        for alpha, col in ([(_alpha(d, 1.0), _shade(color))] if rim else []) + [(_alpha(d), color)]:
            if within is not None:
                alpha *= within[idx]
            _blend(sub, alpha, col)
        self.rgb[:, idx] = sub


def _select(values: np.ndarray, table: Sequence[Any]) -> np.ndarray:
    """Per-image geometry by attribute value: ``table[value]`` for each image."""
    return np.asarray(table, dtype=_F)[values]


# --- domain drawings. `a` maps attribute name -> value indices [N]; `colors` name -> RGB [N, 3].

_LEG = (0.78, 0.52, 0.36)
_EYE = (0.03, 0.03, 0.03)
_WHITE = (0.97, 0.97, 0.97)
_TYRE = (0.07, 0.07, 0.08)
_TAIL_LIGHT = (0.85, 0.08, 0.08)
_COCKPIT = (0.1, 0.14, 0.22)


def _draw_bird(cv: _Canvas, a: dict[str, np.ndarray], colors: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    u, v, ie, n = cv.u, cv.v, cv.ie, cv.n
    wing, body, head = colors["wing_color"], colors["body_color"], colors["head_color"]
    # Legs (behind the body): two bars at u = -0.02 -+ 0.08, one box on |u + 0.02| - 0.08.
    leg_len = _col(_select(a["leg_length"], [0.16, 0.44]) * rng.uniform(0.92, 1.08, n))
    lu = np.abs(u + 0.02)
    lu -= 0.08
    cv.fill(_box(lu, v - (0.22 + leg_len / 2), 0.036, leg_len / 2, ie), _LEG)
    # Tail (wing colour): two triangles sharing the root; a fork separates their tips.
    shape = a["tail_shape"]
    length = _select(shape, [0.52, 1.0, 0.94]) * rng.uniform(0.95, 1.05, n).astype(_F)
    tip_up, tip_lo = _select(shape, [0.14, 0.18, -0.12]), _select(shape, [0.14, 0.18, 0.4])
    root = np.broadcast_to(np.array([[-0.3, -0.05], [-0.3, 0.06], [-0.3, 0.17]], dtype=_F), (n, 3, 2))
    upper = np.stack([root[:, 0], root[:, 1], np.stack([-length, tip_up], 1)], 1)
    lower = np.stack([root[:, 1], root[:, 2], np.stack([-length, tip_lo], 1)], 1)
    cv.fill(np.maximum(_polygon(u, v, upper, ie), _polygon(u, v, lower, ie)), wing)
    # Body and its pattern.
    bu, bv = _frame(u, v, 0.0, 0.05, -0.22)
    body_alpha = cv.fill(_ellipse(bu, bv, 0.46, 0.28, ie), body)
    pattern, contrast = a["body_pattern"], _contrast(body)
    cv.detail(pattern == 1, lambda i: _bands(bu[i], 0.26, 0.45, ie[i]), contrast, body_alpha)
    cv.detail(pattern == 2, lambda i: _spots(bu[i], bv[i] + 0.04, 0.28, 0.095, ie[i]), contrast, body_alpha)
    # Wing with bars or white tips.
    wu, wv = _frame(u, v, -0.14, -0.03, -0.32)
    wing_alpha = cv.fill(_ellipse(wu, wv, 0.32, 0.14, ie), wing)
    pattern = a["wing_pattern"]
    cv.detail(pattern == 1, lambda i: _bands(wu[i], 0.2, 0.45, ie[i]), _contrast(wing), wing_alpha)
    cv.detail(pattern == 2, lambda i: (-0.14 - wu[i]) * ie[i], _WHITE, wing_alpha)
    # Crest (behind the head), head, beak, eye.
    crest = np.array([[0.28, -0.26], [0.52, -0.34], [0.3, -0.6], [0.06, -0.64]], dtype=_F)
    cv.detail(a["head_shape"] == 1, lambda i: _polygon(u[i], v[i], crest, ie[i]), head, rim=True)
    cv.fill(_circle(*_frame(u, v, 0.4, -0.2), 0.2, ie), head)
    beaks = np.array([[[0.54, -0.28], [0.56, -0.13], [0.8, -0.2]],
                      [[0.54, -0.26], [0.56, -0.15], [0.98, -0.19]],
                      [[0.52, -0.31], [0.56, -0.11], [0.78, -0.03]]], dtype=_F)
    cv.fill(_polygon(u, v, beaks[a["beak_shape"]], ie), colors["beak_color"])
    cv.paint(_alpha(_circle(*_frame(u, v, 0.45, -0.25), 0.05, ie)), _EYE)


def _draw_car(cv: _Canvas, a: dict[str, np.ndarray], colors: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    u, v, ie, n = cv.u, cv.v, cv.ie, cv.n
    lf = _select(a["body_length"], [0.78, 1.0])  # body length factor
    # Cabin in the roof colour with windows inset; the body hides its lower edge.
    cabins = np.array([[[-0.5, 0.0], [0.44, 0.0], [0.2, -0.38], [-0.3, -0.38]],    # sedan
                       [[-0.8, 0.0], [0.44, 0.0], [0.16, -0.4], [-0.76, -0.4]],    # hatchback
                       [[-0.56, 0.0], [0.4, 0.0], [0.08, -0.31], [-0.24, -0.33]]],  # coupe
                      dtype=_F)[a["body_style"]]
    cabins[..., 0] *= lf[:, None]
    cabin = _polygon(u, v, cabins, ie)
    cv.fill(cabin, colors["roof_color"])
    cabin -= 0.075 * ie  # windows: the cabin shrunk by the roof and pillar width
    pillar = _col(cabins[:, 2, 0] * 0.35 + cabins[:, 3, 0] * 0.65)
    np.minimum(cabin, (np.abs(u - pillar) - 0.035) * ie, out=cabin)
    glass = np.array([0.62, 0.74, 0.84], dtype=_F) * rng.uniform(0.85, 1.05, (n, 1)).astype(_F)
    cv.paint(_alpha(cabin), glass)
    # Body and its pattern (a racing stripe or a checkerboard).
    body = colors["body_color"]
    bu, bv = _frame(u, v, 0.0, 0.13)
    body_alpha = cv.fill(_rounded_box(bu, bv, _col(0.82 * lf), 0.19, ie), body)
    pattern, contrast = a["body_pattern"], _contrast(body)
    cv.detail(pattern == 1, lambda i: _box(bu[i], bv[i] + 0.03, 1.0, 0.05, ie[i]), contrast, body_alpha)
    cv.detail(pattern == 2, lambda i: _checker(bu[i], bv[i] - 0.05, 0.22, ie[i]), contrast, body_alpha)
    # Head light (shape and colour are attributes) and the red tail light.
    shape = a["light_shape"]
    half_w, half_h = _select(shape, [0.12, 0.055, 0.2]), _select(shape, [0.12, 0.16, 0.045])  # round, tall, wide
    lu, lv = _frame(u, v, _col(0.8 * lf - half_w - 0.02), 0.09)
    light = np.where(_col(shape == 0), _circle(lu, lv, 0.12, ie), _box(lu, lv, _col(half_w), _col(half_h), ie))
    cv.fill(light, colors["light_color"])
    cv.paint(_alpha(_box(*_frame(u, v, _col(-0.8 * lf), 0.05), 0.03, 0.05, ie)), _TAIL_LIGHT)
    # Wheels: three slots; four-wheeled cars show two wheels (the middle slot repeats the rear one).
    r = _col(_select(a["wheel_size"], [0.15, 0.2]))
    six = a["wheel_count"] == 1
    tyre = None
    for x in (np.where(six, -0.62, -0.54) * lf, np.where(six, -0.24, -0.54) * lf, 0.54 * lf):
        t = _circle(*_frame(u, v, _col(x), 0.3), r, ie)
        tyre = t if tyre is None else np.maximum(tyre, t, out=tyre)
    cv.paint(_alpha(tyre), _TYRE)
    tyre -= 0.45 * r * ie  # hub: the wheel shrunk to 55 %
    cv.paint(_alpha(tyre), colors["wheel_color"])


def _draw_aircraft(cv: _Canvas, a: dict[str, np.ndarray], colors: dict[str, np.ndarray],
                   rng: np.random.Generator) -> None:
    u, v, ie, n = cv.u, cv.v, cv.ie, cv.n
    w = np.abs(v)  # plan view: the aircraft is symmetric about its axis, so one half draws both
    hx = _select(a["fuselage_length"], [0.46, 0.66])  # fuselage half length (short, long)
    # Wings: a quad in (u, |v|) gives both wings at once; root chord at the axis, then the tip.
    wings = np.array([[[0.12, -0.1], [-0.12, -0.1], [-0.12, 0.82], [0.06, 0.82]],    # straight
                      [[0.26, -0.1], [0.0, -0.1], [-0.5, 0.72], [-0.36, 0.74]],      # swept
                      [[0.4, -0.1], [-0.46, -0.1], [-0.46, 0.56], [-0.4, 0.56]]],    # delta
                     dtype=_F)[a["wing_shape"]]
    cv.fill(_polygon(u, w, wings, ie), colors["wing_color"])
    # Engines: pods ahead of the leading edge, at one or two spans per side.
    four = a["engine_count"] == 1
    pods = None
    for span in (np.where(four, 0.22, 0.34), np.where(four, 0.48, 0.34)):
        t = (span + 0.1) / (wings[:, 3, 1] + 0.1)
        lead = wings[:, 0, 0] * (1 - t) + wings[:, 3, 0] * t
        p = _ellipse(*_frame(u, w, _col(lead + 0.02), _col(span)), 0.15, 0.075, ie)
        pods = p if pods is None else np.maximum(pods, p, out=pods)
    cv.fill(pods, colors["engine_color"])
    # Tail plane at the rear of the fuselage.
    tails = np.array([[[0.18, -0.1], [0.0, -0.1], [0.0, 0.5], [0.16, 0.5]],       # straight
                      [[0.26, -0.1], [0.08, -0.1], [-0.24, 0.44], [-0.12, 0.46]],  # swept
                      [[0.46, -0.1], [-0.06, -0.1], [-0.06, 0.32], [0.0, 0.32]]],   # delta
                     dtype=_F)[a["tail_shape"]]
    tails[..., 0] -= hx[:, None]
    cv.fill(_polygon(u, w, tails, ie), colors["tail_color"])
    # Fuselage with its nose, livery, cockpit, and the fin seen edge-on.
    body = colors["fuselage_color"]
    pointed = a["nose_shape"] == 1
    half = np.full(n, 0.14, _F)
    nose = np.stack([np.stack([hx - 0.1, -half], 1), np.stack([hx - 0.1, half], 1),
                     np.stack([hx + 0.4, 0 * half], 1)], 1)  # a long spike; the round nose is a blunt cap
    nose_d = np.where(_col(pointed), _polygon(u, v, nose, ie), _ellipse(u - _col(hx), v, 0.1, 0.14, ie))
    fuselage = np.maximum(_rounded_box(u, v, _col(hx), 0.14, ie), nose_d)
    body_alpha = cv.fill(fuselage, body)
    livery, contrast = a["livery"], _contrast(body)
    cv.detail(livery == 1, lambda i: _box(u[i], v[i], 1.0, 0.055, ie[i]), contrast, body_alpha)
    cv.detail(livery == 2, lambda i: _bands(u[i], 0.34, 0.4, ie[i]), contrast, body_alpha)
    cv.paint(_alpha(_box(u - _col(hx - 0.1), v, 0.035, 0.075, ie)), _COCKPIT)
    cv.fill(_box(u - _col(0.12 - hx), v, 0.15, 0.035, ie), colors["tail_color"], rim=False)


_DRAW = {"bird": _draw_bird, "car": _draw_car, "aircraft": _draw_aircraft}
# Pose nuisance at strength 1: max rotation (degrees), scale range, max shift (image units).
_POSE = {"bird": (25.0, (0.62, 0.95), 0.2), "car": (10.0, (0.66, 0.96), 0.25), "aircraft": (30.0, (0.68, 0.92), 0.2)}


# --- scenes: each returns RGB planes [3, m, H, W] for m images, drawn in the image frame


@lru_cache(maxsize=64)
def _upsampler(size: int, cells: int) -> np.ndarray:
    """[size, cells] bilinear interpolation matrix from a coarse grid to pixels."""
    pos = (np.arange(size) + 0.5) / size * (cells - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, cells - 2)
    frac = pos - lo
    m = np.zeros((size, cells), dtype=_F)
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _lowfreq(rng: np.random.Generator, m: int, size: int, cells: int) -> np.ndarray:
    """Smooth noise [m, size, size] in about [-1, 1] (a random coarse grid, bilinearly upsampled)."""
    up = _upsampler(size, cells)
    grid = rng.uniform(-1, 1, (m, cells, cells)).astype(_F)
    return up @ grid @ up.T


def _fill(m: int, size: int, color: Any) -> np.ndarray:
    rgb = np.empty((3, m, size, size), dtype=_F)
    for c in range(3):
        rgb[c] = color[c]
    return rgb


def _vertical(top: Any, bottom: Any, y: np.ndarray, m: int) -> np.ndarray:
    """A vertical gradient from ``top`` to ``bottom`` colour, as planes [3, m, H, W]."""
    t = (y + 1) / 2  # [1, H, 1]
    size = y.shape[1]
    rgb = np.empty((3, m, size, size), dtype=_F)
    for c in range(3):
        rgb[c] = top[c] * (1 - t) + bottom[c] * t
    return rgb


def _horizon(rng: np.random.Generator, m: int, x: np.ndarray, y: np.ndarray, lo: float, hi: float,
             ie: float) -> np.ndarray:
    """Coverage of the ground below a slightly tilted horizon line at height in [lo, hi]."""
    h = _col(rng.uniform(lo, hi, m))
    tilt = _col(rng.uniform(-0.08, 0.08, m))
    return _alpha((y - h - tilt * x) * ie)


def _scene(name: str, rng: np.random.Generator, m: int, size: int) -> np.ndarray:
    x = ((np.arange(size, dtype=_F) + 0.5) / size * 2 - 1)[None, None, :]
    y = x.reshape(1, size, 1)
    ie = size / 2.0
    if name in ("sky", "clouds"):
        rgb = _vertical((0.3, 0.5, 0.86), (0.66, 0.8, 0.96), y, m)
        cover = _lowfreq(rng, m, size, 4) + (0.1 if name == "sky" else 0.9)
        cover = np.clip(cover * (1.5 if name == "sky" else 2.5) - 0.6, 0, 1)
        _blend(rgb, cover, (0.95, 0.95, 0.97))
        if name == "clouds":
            _blend(rgb, np.clip(_lowfreq(rng, m, size, 6), 0, 1) * 0.5, (0.7, 0.72, 0.78))
    elif name in ("water", "sea"):
        rgb = _fill(m, size, (0.1, 0.34, 0.55) if name == "water" else (0.06, 0.22, 0.42))
        waves = np.sin(y * _col(rng.uniform(25, 40, m)) + 3 * _lowfreq(rng, m, size, 5))
        _blend(rgb, np.clip(waves - 0.6, 0, 1) * 0.8, (0.5, 0.7, 0.85))
        if name == "water":
            _blend(rgb, 1 - _horizon(rng, m, x, y, -0.95, -0.55, ie), (0.75, 0.85, 0.95))
        else:
            _blend(rgb, np.clip(_lowfreq(rng, m, size, 12) * 3 - 2.2, 0, 1), (0.9, 0.93, 0.95))
    elif name == "forest":
        rgb = _fill(m, size, (0.1, 0.26, 0.1))
        _blend(rgb, np.clip(_lowfreq(rng, m, size, 9) + 0.2, 0, 1) * 0.6, (0.3, 0.52, 0.2))
        trunks = _alpha(_bands(x + _col(rng.uniform(0, 1, m)), float(rng.uniform(0.5, 0.8)), 0.12, ie))
        _blend(rgb, trunks * 0.9, (0.27, 0.17, 0.09))
    elif name == "grassland":
        rgb = _vertical((0.55, 0.72, 0.92), (0.8, 0.87, 0.95), y, m)
        ground = _horizon(rng, m, x, y, -0.5, -0.1, ie)
        _blend(rgb, ground, (0.44, 0.58, 0.2))
        _blend(rgb, ground * np.clip(_lowfreq(rng, m, size, 7), 0, 1) * 0.5, (0.7, 0.68, 0.3))
        blades = np.sin(x * 90 + 4 * _lowfreq(rng, m, size, 4))
        _blend(rgb, ground * np.clip(blades, 0, 1) * 0.25, (0.25, 0.4, 0.12))
    elif name in ("road", "city"):
        rgb = _vertical((0.58, 0.7, 0.88), (0.78, 0.84, 0.92), y, m)
        if name == "city":
            idx = np.floor((x + 1) * _col(rng.uniform(2.5, 4.5, m)) + _col(rng.uniform(0, 1, m)))
            shade = (np.sin(idx * 12.9898 + _col(rng.uniform(0, 6, m))) * 43758.5453) % 1.0
            building = _alpha((y + 0.2 + 0.6 * shade) * ie)
            _blend(rgb, building, (0.45, 0.45, 0.47))
            _blend(rgb, building * (0.25 + shade * 0.5), (0.25, 0.25, 0.28))
            windows = _alpha(_bands(x, 0.12, 0.4, ie)) * _alpha(_bands(y, 0.12, 0.4, ie)) * building
            _blend(rgb, windows * 0.6, (0.85, 0.82, 0.6))
        else:
            _blend(rgb, np.clip(_lowfreq(rng, m, size, 8) + 0.3, 0, 1) * _alpha((-0.05 - y) * ie), (0.25, 0.4, 0.2))
        ground = _horizon(rng, m, x, y, 0.0, 0.25, ie)
        _blend(rgb, ground, (0.34, 0.34, 0.36))
        _blend(rgb, ground * np.clip(_lowfreq(rng, m, size, 10), 0, 1) * 0.3, (0.45, 0.44, 0.42))
        lane = (_alpha((0.022 - np.abs(y - _col(rng.uniform(0.65, 0.85, m)))) * ie)
                * _alpha(_bands(x + _col(rng.uniform(0, 1, m)), 0.4, 0.5, ie)))
        _blend(rgb, lane, (0.92, 0.9, 0.8))
    elif name == "desert":
        rgb = _vertical((0.6, 0.74, 0.9), (0.9, 0.88, 0.82), y, m)
        ground = _horizon(rng, m, x, y, -0.35, 0.05, ie)
        _blend(rgb, ground, (0.86, 0.72, 0.46))
        dunes = np.sin(x * 4 + y * 9 + _col(rng.uniform(0, 6, m)) + 2 * _lowfreq(rng, m, size, 4))
        _blend(rgb, ground * np.clip(dunes, 0, 1) * 0.35, (0.68, 0.52, 0.3))
    elif name == "snow":
        rgb = _vertical((0.66, 0.68, 0.74), (0.82, 0.84, 0.88), y, m)
        ground = _horizon(rng, m, x, y, -0.35, 0.05, ie)
        _blend(rgb, ground, (0.93, 0.94, 0.98))
        _blend(rgb, ground * np.clip(_lowfreq(rng, m, size, 6), 0, 1) * 0.5, (0.72, 0.78, 0.9))
    elif name == "runway":
        rgb = _fill(m, size, (0.34, 0.5, 0.24))
        _blend(rgb, np.clip(_lowfreq(rng, m, size, 8), 0, 1) * 0.4, (0.5, 0.55, 0.3))
        angle = rng.uniform(0, math.pi, m)
        across = (x - _col(rng.uniform(-0.3, 0.3, m))) * _col(np.cos(angle)) + y * _col(np.sin(angle))
        along = y * _col(np.cos(angle)) - x * _col(np.sin(angle))
        _blend(rgb, _alpha((0.55 - np.abs(across)) * ie), (0.38, 0.38, 0.4))
        centre = _alpha((0.03 - np.abs(across)) * ie) * _alpha(_bands(along, 0.3, 0.5, ie))
        _blend(rgb, centre, (0.94, 0.94, 0.9))
        _blend(rgb, _alpha((0.02 - np.abs(np.abs(across) - 0.48)) * ie), (0.94, 0.94, 0.9))
    else:
        raise ValueError(f"no scene drawing for {name!r}")
    rgb *= rng.uniform(0.9, 1.08, (3, m, 1, 1)).astype(_F)  # per-image scene tint and brightness
    return rgb


# Occluder colours by scene: foliage, bark, posts, rocks, snow, cloud wisps.
_OCCLUDER_COLORS = {
    "forest": ((0.16, 0.36, 0.12), (0.3, 0.2, 0.1)), "grassland": ((0.3, 0.45, 0.15), (0.5, 0.45, 0.2)),
    "water": ((0.4, 0.35, 0.18), (0.2, 0.35, 0.15)), "sky": ((0.92, 0.93, 0.95), (0.3, 0.22, 0.14)),
    "road": ((0.45, 0.45, 0.47), (0.2, 0.35, 0.15)), "city": ((0.3, 0.3, 0.32), (0.6, 0.58, 0.55)),
    "desert": ((0.6, 0.45, 0.28), (0.4, 0.5, 0.25)), "snow": ((0.9, 0.92, 0.96), (0.3, 0.22, 0.15)),
    "clouds": ((0.95, 0.95, 0.97), (0.82, 0.84, 0.88)), "runway": ((0.95, 0.95, 0.96), (0.5, 0.5, 0.52)),
    "sea": ((0.95, 0.95, 0.97), (0.82, 0.84, 0.88)),
}
# Global light: (desaturation, RGB gain, RGB offset). Mild, so part colours stay apart.
_LIGHTS = {"day": (0.0, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
           "overcast": (0.3, (0.9, 0.92, 0.95), (0.03, 0.03, 0.04)),
           "dusk": (0.05, (1.0, 0.88, 0.75), (0.04, 0.01, 0.0))}


def render_images(domain: str, attributes: np.ndarray, image_size: int = 64, seed: int | Sequence[int] = 0,
                  nuisance: float = 1.0) -> np.ndarray:
    """Draw one image per row of ``attributes`` (int [N, A_all] value indices in domain order).

    Returns uint8 ``[N, image_size, image_size, 3]``; deterministic given the arguments.
    """
    spec = DOMAINS[domain]
    attributes = np.asarray(attributes, dtype=np.int64)
    sizes = np.array([len(a.values) for a in spec.attributes])
    if attributes.ndim != 2 or attributes.shape[1] != len(sizes):
        raise ValueError(f"attributes must be [N, {len(sizes)}] for domain {domain!r}, got shape {attributes.shape}.")
    if ((attributes < 0) | (attributes >= sizes)).any():
        raise ValueError(f"attribute value indices out of range; per-attribute value counts are {sizes.tolist()}.")
    seed_material = [int(seed)] if np.ndim(seed) == 0 else [int(s) for s in seed]
    out = np.empty((len(attributes), image_size, image_size, 3), dtype=np.uint8)
    batch = max(1, _BATCH_PIXELS // (image_size * image_size))
    code = _domain_code(domain)
    for b, start in enumerate(range(0, len(attributes), batch)):
        rng = np.random.default_rng([*seed_material, code, b])
        out[start:start + batch] = _render_batch(spec, attributes[start:start + batch], image_size, rng, nuisance)
    return out


def _render_batch(spec: DomainSpec, attributes: np.ndarray, size: int, rng: np.random.Generator,
                  nuisance: float) -> np.ndarray:
    n = len(attributes)
    values = {a.name: attributes[:, i] for i, a in enumerate(spec.attributes)}
    strength = min(nuisance, 1.0)
    scenes = spec.attribute("scene").values
    # Background: one scene drawing per scene present in the batch.
    rgb = np.empty((3, n, size, size), dtype=_F)
    for s, name in enumerate(scenes):
        idx = np.flatnonzero(values["scene"] == s)
        if len(idx):
            rgb[:, idx] = _scene(name, rng, len(idx), size)
    draw_objects(spec, values, rgb, rng, nuisance, clutter=True)
    _occlude(rgb, values["scene"], scenes, rng, size, strength)
    return _finish(rgb, spec.attribute("light").values, values["light"], rng, nuisance)


def draw_objects(spec: DomainSpec, values: dict[str, np.ndarray], rgb: np.ndarray, rng: np.random.Generator,
                 nuisance: float, clutter: bool = False) -> None:
    """Draw one object per image of ``values`` (attribute name -> value indices [N]) onto ``rgb``
    [3, N, H, W] in place: pose, part colours with bounded jitter, background clutter (``clutter``),
    then the domain's drawing. The drawing is linear in the background (each part blends over what
    is there), which lets :mod:`fgkd.data.world.scenes` recover an object's alpha from two draws."""
    n, size = rgb.shape[1], rgb.shape[2]
    strength = min(nuisance, 1.0)
    # Pose: the object frame (u, v) of every pixel, (u, v) = R(-theta) ((x, y) - shift) / scale.
    max_rot, (s_lo, s_hi), max_shift = _POSE[spec.name]
    theta = np.deg2rad(rng.uniform(-1, 1, n) * max_rot * nuisance)
    scale = (s_lo + s_hi) / 2 + rng.uniform(-1, 1, n) * (s_hi - s_lo) / 2 * strength
    shift = rng.uniform(-1, 1, (2, n)) * max_shift * strength
    flip = np.where(rng.random(n) < (0.5 if nuisance > 0 else 0.0), -1.0, 1.0)
    grid = (np.arange(size, dtype=_F) + 0.5) / size * 2 - 1
    px = grid[None, None, :] - _col(shift[0])
    py = grid[None, :, None] - _col(shift[1])
    cos, sin, inv = _col(np.cos(theta)), _col(np.sin(theta)), _col(1.0 / scale)
    u = px * (cos * inv * _col(flip)) + py * (sin * inv * _col(flip))
    v = py * (cos * inv) - px * (sin * inv)
    ie = _col(size / 2.0 * scale)  # pixels per object unit
    # Part colours with bounded jitter (see domains.max_color_jitter).
    colors = {}
    for a in spec.part_attributes:
        if a.kind == "color":
            base = np.array([PALETTE[c] for c in a.values], dtype=_F)[values[a.name]]
            gain = 1 + rng.uniform(-1, 1, (n, 1)) * JITTER_GAIN * strength
            offset = rng.uniform(-1, 1, (n, 3)) * JITTER_OFFSET * strength
            colors[a.name] = np.clip(base * gain + offset, 0, 1).astype(_F)
    if clutter:
        _clutter(rgb, rng, size, strength)
    _DRAW[spec.name](_Canvas(rgb, u, v, ie), values, colors, rng)


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    """Fixed standard-normal planes [8, size + 32, size + 32]; images add random windows of them.

    Drawing fresh Gaussian noise costs more than drawing an image; windows at random offsets of a
    fixed bank are as good as fresh noise for a network and deterministic."""
    return np.random.default_rng(0x401CE).standard_normal((8, size + 32, size + 32), dtype=_F)


def _finish(rgb: np.ndarray, lights: tuple[str, ...], light: np.ndarray, rng: np.random.Generator,
            nuisance: float) -> np.ndarray:
    """Light (desaturation, tint), exposure and pixel noise, then uint8 [N, H, W, 3]."""
    n, size = rgb.shape[1], rgb.shape[2]
    desat = np.array([_LIGHTS[lights[i]][0] for i in light], dtype=_F)
    gain = np.array([_LIGHTS[lights[i]][1] for i in light], dtype=_F)
    offset = np.array([_LIGHTS[lights[i]][2] for i in light], dtype=_F)
    gain *= (1 + rng.uniform(-0.06, 0.06, (n, 1)) * min(nuisance, 1.0)).astype(_F)
    sigma = (rng.uniform(0.008, 0.03, n) * nuisance * 255.0).astype(_F)
    bank = _noise_bank(size)
    windows = rng.integers(0, [len(bank), 33, 33], size=(3, n, 3))
    grey = None
    if (desat > 0).any():
        grey = rgb.sum(0)
        grey *= _F(1 / 3)
    out = np.empty(rgb.shape[1:] + (3,), dtype=np.uint8)
    for c in range(3):
        plane = rgb[c]
        if grey is not None:
            plane += _col(desat) * (grey - plane)
        plane *= _col(gain[:, c] * 255.0)
        plane += _col(offset[:, c] * 255.0 + 0.5)
        if nuisance > 0:
            for i, (k, dy, dx) in enumerate(windows[c]):
                plane[i] += sigma[i] * bank[k, dy:dy + size, dx:dx + size]
        np.clip(plane, 0, 255, out=plane)
        out[..., c] = plane
    return out


_CLUTTER_SLOTS = 2  # small coloured things in the background (berries, flowers, signs, litter)
_CLUTTER_COLORS = np.array(list(PALETTE.values()), dtype=_F)


def _clutter(rgb: np.ndarray, rng: np.random.Generator, size: int, strength: float) -> None:
    """Blobs of palette colours behind the object, so colour statistics of the whole image are a
    poor shortcut to the object's colours (a linear model on pixels must not read them off)."""
    n = rgb.shape[1]
    grid = (np.arange(size, dtype=_F) + 0.5) / size * 2 - 1
    ie = size / 2.0
    buf = np.empty((n, size, size), dtype=_F)
    for _ in range(_CLUTTER_SLOTS):
        present = rng.random(n) < 0.75 * strength
        cx, cy = rng.uniform(-1, 1, (2, n))
        rx, ry = rng.uniform(0.04, 0.12, (2, n))
        color = _CLUTTER_COLORS[rng.integers(len(_CLUTTER_COLORS), size=n)] * rng.uniform(0.8, 1.05, (n, 1)).astype(_F)
        if present.any():
            d = _ellipse(grid[None, None, :] - _col(cx), grid[None, :, None] - _col(cy), _col(rx), _col(ry), ie)
            _blend(rgb, _alpha(d) * _col(present), color, buf)


def _occlude(rgb: np.ndarray, scene: np.ndarray, scenes: tuple[str, ...], rng: np.random.Generator, size: int,
             strength: float) -> None:
    """Branches, posts and blobs in front of the object in a share of the images (image frame)."""
    n = rgb.shape[1]
    idx = np.flatnonzero(rng.random(n) < 0.3 * strength)
    if not len(idx):
        return
    m = len(idx)
    grid = (np.arange(size, dtype=_F) + 0.5) / size * 2 - 1
    du = grid[None, None, :] - _col(rng.uniform(-0.7, 0.7, m))
    dv = grid[None, :, None] - _col(rng.uniform(-0.7, 0.7, m))
    angle = rng.uniform(0, math.pi, m)
    c, s = _col(np.cos(angle)), _col(np.sin(angle))
    along, across = du * c + dv * s, dv * c - du * s
    is_branch = rng.random(m) < 0.5
    half_len = _col(np.where(is_branch, rng.uniform(0.5, 1.2, m), rng.uniform(0.1, 0.2, m)))
    half_wid = _col(np.where(is_branch, rng.uniform(0.025, 0.06, m), rng.uniform(0.07, 0.14, m)))
    ie = size / 2.0
    alpha = _alpha(np.where(_col(is_branch), _box(along, across, half_len, half_wid, ie),
                            _ellipse(along, across, half_len, half_wid, ie)))
    which = rng.integers(0, 2, m)
    palette = np.array([_OCCLUDER_COLORS[scenes[k]][int(j)] for k, j in zip(scene[idx], which)], dtype=_F)
    sub = rgb[:, idx]
    _blend(sub, alpha, palette)
    rgb[:, idx] = sub

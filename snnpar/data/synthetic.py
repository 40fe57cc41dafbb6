"""The built-in synthetic pedestrian data set: procedurally drawn people carrying PA100K's 26 attributes.

Every attribute is drawn into the pixels (hat shape, glasses, bags where they hang, sleeve length,
upper-body stripes/logo/plaid/splice, trousers/shorts/skirt, long coat, boots, view cues, age cues
in body proportions and hair colour, gender cues in hair length and body shape, objects held in
front), sampled with sensible correlations (a skirt excludes trousers and shorts, a long coat has
long sleeves, nothing held in front is visible from the back), and set in cluttered scenes with
illumination changes, blur, noise, partial occlusion and scale/position jitter.

The set is written in PA100K's on-disk layout (`annotation.mat` + `data/*.jpg`), so the PA100K
loader reads it unchanged. Writing is atomic (a temporary folder renamed at the end) and
deterministic for a seed: image i depends only on (seed, i), so a smaller set is a prefix of a
larger one. This module draws and writes; it does not load (see `dataset`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from snnpar.atomic_file import new_folder_mode
from snnpar.data.attributes import PA100K_ATTRIBUTES
from snnpar.errors import UserError

GENERATOR_VERSION = 2  # 2: larger logo, backpack seen from the front, old people's stick, contrasting splice
MARKER = "synthetic.json"
A = {name: i for i, name in enumerate(PA100K_ATTRIBUTES)}

Color = tuple[int, int, int]

CLOTHES: tuple[Color, ...] = (
    (20, 20, 24), (235, 235, 230), (128, 128, 132), (180, 30, 35), (30, 60, 160), (25, 120, 60),
    (230, 190, 40), (120, 70, 35), (110, 40, 130), (235, 120, 160), (240, 120, 30), (60, 160, 190),
    (70, 85, 45), (160, 150, 110),
)  # fmt: skip
SKIN: tuple[Color, ...] = ((245, 205, 170), (225, 175, 135), (190, 135, 95), (140, 95, 65), (95, 65, 45))
HAIR_YOUNG: tuple[Color, ...] = ((15, 12, 10), (55, 35, 20), (95, 60, 30), (200, 160, 80), (120, 40, 20))
HAIR_OLD: tuple[Color, ...] = ((200, 200, 200), (235, 235, 235), (165, 165, 170))
SHOES: tuple[Color, ...] = ((25, 25, 25), (70, 45, 30), (235, 235, 235), (100, 100, 105))


def _luma(c: Color) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


_CLOTHES = np.array(CLOTHES, dtype=np.int32)
_CLOTHES_LUMA = _CLOTHES @ np.array([0.299, 0.587, 0.114])


def _contrasting(rng: np.random.Generator | _Dice, base: Color, min_luma_gap: float = 70.0) -> Color:
    """A palette colour clearly different in brightness from `base`, so textures stay visible."""
    options = np.flatnonzero(np.abs(_CLOTHES_LUMA - _luma(base)) >= min_luma_gap)
    return CLOTHES[options[rng.integers(len(options))]]


def _other(rng: np.random.Generator | _Dice, *avoid: Color) -> Color:
    """A palette colour far (L1 distance > 120) from every colour in `avoid`."""
    dist = np.abs(_CLOTHES[:, None, :] - np.array(avoid, dtype=np.int32)[None, :, :]).sum(-1)
    options = np.flatnonzero((dist > 120).all(axis=1))
    return CLOTHES[options[rng.integers(len(options))]]


def sample_attributes(rng: np.random.Generator) -> np.ndarray:
    """One pedestrian's 26 PA100K labels, with the correlations a real street scene has."""
    y = np.zeros(len(PA100K_ATTRIBUTES), dtype=np.uint8)
    female = rng.random() < 0.45
    y[A["Female"]] = female
    age = rng.choice(["AgeOver60", "Age18-60", "AgeLess18"], p=[0.12, 0.72, 0.16])
    y[A[age]] = 1
    view = rng.choice(["Front", "Side", "Back"], p=[0.4, 0.3, 0.3])
    y[A[view]] = 1
    child, old = age == "AgeLess18", age == "AgeOver60"
    y[A["Hat"]] = rng.random() < (0.25 if old else 0.15)
    y[A["Glasses"]] = view != "Back" and rng.random() < (0.08 if child else 0.3 if old else 0.2)
    y[A["Backpack"]] = rng.random() < (0.45 if child else 0.18)
    y[A["ShoulderBag"]] = rng.random() < (0.3 if female else 0.15)
    y[A["HandBag"]] = rng.random() < (0.28 if female else 0.1)
    y[A["HoldObjectsInFront"]] = view != "Back" and rng.random() < 0.15
    coat = rng.random() < (0.2 if old else 0.1)
    y[A["LongCoat"]] = coat
    long_sleeve = coat or rng.random() < 0.55
    y[A["LongSleeve"]], y[A["ShortSleeve"]] = long_sleeve, not long_sleeve
    u = rng.random()
    texture = "UpperStride" if u < 0.12 else "UpperPlaid" if u < 0.22 else "UpperSplice" if u < 0.36 else None
    if texture:
        y[A[texture]] = 1
    y[A["UpperLogo"]] = texture != "UpperPlaid" and rng.random() < 0.16
    p_skirt = 0.35 if female else 0.0
    p_shorts = 0.0 if coat else (0.3 if child else 0.15)
    v = rng.random()
    lower = "Skirt&Dress" if v < p_skirt else "Shorts" if v < p_skirt + p_shorts else "Trousers"
    y[A[lower]] = 1
    w = rng.random()
    if w < 0.1:
        y[A["LowerStripe"]] = 1
    elif w < 0.19:
        y[A["LowerPattern"]] = 1
    y[A["boots"]] = lower != "Shorts" and rng.random() < (0.25 if female else 0.1)
    return y


def _background(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    """A street-like clutter: a graded wall/ground plus random blocks, poles and blobs."""
    c0 = rng.integers(40, 220, 3).astype(np.float32)
    c1 = rng.integers(40, 220, 3).astype(np.float32)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    column = np.ascontiguousarray((c0 * (1 - t) + c1 * t).astype(np.uint8))
    img = Image.fromarray(column, "RGB").resize((w, h), Image.NEAREST)
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 12))):
        col = tuple(int(x) for x in rng.integers(30, 230, 3))
        x0, y0 = rng.random() * w, rng.random() * h
        x1, y1 = x0 + rng.random() * w * 0.6, y0 + rng.random() * h * 0.5
        kind = rng.integers(3)
        if kind == 0:
            d.rectangle((x0, y0, x1, y1), fill=col)
        elif kind == 1:
            d.ellipse((x0, y0, x1, y1), fill=col)
        else:
            d.line((x0, y0, x1, y1 + h * 0.3), fill=col, width=max(1, int(rng.integers(1, 4))))
    return img


def _textured_polygon(
    img: Image.Image, poly: list[tuple[float, float]], base: Color, texture: str | None,
    accent: Color, second: Color, rng: _Dice, scale: float,
) -> None:  # fmt: skip
    """Fill a garment polygon with its colour and texture, clipped to the polygon."""
    d = ImageDraw.Draw(img)
    if texture is None:
        d.polygon(poly, fill=base)
        return
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    x0, y0 = int(min(xs)), int(min(ys))
    x1, y1 = int(max(xs)) + 2, int(max(ys)) + 2
    pw, phh = max(1, x1 - x0), max(1, y1 - y0)
    patch = Image.new("RGB", (pw, phh), base)
    pd = ImageDraw.Draw(patch)
    step = max(3, round(4 * scale))
    lw = max(1, round(1.4 * scale))
    if texture in ("stripe", "plaid"):
        for y in range(int(rng.integers(0, step)), phh, step):
            pd.line((0, y, pw, y), fill=accent, width=lw)
    if texture in ("vstripe", "plaid"):
        for x in range(int(rng.integers(0, step)), pw, step):
            pd.line((x, 0, x, phh), fill=accent, width=lw)
    if texture == "splice":
        if rng.random() < 0.5:
            pd.rectangle((0, phh * 0.5, pw, phh), fill=second)
        else:
            pd.rectangle((pw * 0.5, 0, pw, phh), fill=second)
    if texture == "dots":
        r = max(1.0, 0.9 * scale)
        for yy in range(1, phh, step + 1):
            off = (yy // (step + 1)) % 2 * (step // 2)
            for xx in range(1 + off, pw, step + 1):
                pd.ellipse((xx - r, yy - r, xx + r, yy + r), fill=accent)
    mask = Image.new("L", (pw, phh), 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in poly], fill=255)
    img.paste(patch, (x0, y0), mask)


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


@dataclass
class _Figure:
    """Where the figure's parts are (pixels, floats: PIL rounds), its colours and its pose."""

    view: str  # "front" | "side" | "back"
    cx: float
    top: float
    ph: float  # person height
    head_h: float
    head_w: float
    shoulder_w: float
    hip_w: float
    waist_y: float
    knee_y: float
    foot_y: float
    arm_w: float
    wrist_y: float
    scale: float  # image height / 128: line widths and texture periods follow it
    facing: int  # side view: +1 faces right, -1 left
    skin: Color
    hair: Color
    long_hair: bool
    upper: Color
    lower: Color
    coat: Color
    shoe: Color

    @property
    def side(self) -> bool:
        return self.view == "side"

    @property
    def shoulder_y(self) -> float:
        return self.top + self.head_h * 1.15

    def width(self, factor: float) -> int:
        return max(1, round(factor * self.scale))


class _Dice:
    """A part's own pre-drawn random numbers, with the few Generator methods the drawing uses.

    Every part draws from its own row, so switching one attribute on or off (with the same image
    seed) changes only that part's pixels; and one `random` call per image is far cheaper than
    seeding a generator per part.
    """

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.used = 0

    def random(self) -> float:
        if self.used >= len(self.values):
            raise RuntimeError(
                "a drawing part used more random numbers than reserved; raise _Streams.PER_PART"
            )
        self.used += 1
        return float(self.values[self.used - 1])

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int | None = None) -> int:
        low, high = (0, low) if high is None else (low, high)
        return min(high - 1, low + int(self.random() * (high - low)))


class _Streams:
    """One independent `_Dice` per drawn part."""

    PARTS = ("figure", "lower", "upper", "logo", "backpack", "shoulderbag", "handbag", "hold", "stick", "hat",
             "occlusion")  # fmt: skip
    PER_PART = 48

    def __init__(self, rng: np.random.Generator) -> None:
        self.table = rng.random((len(self.PARTS), self.PER_PART))

    def __getitem__(self, part: str) -> _Dice:
        return _Dice(self.table[self.PARTS.index(part)])


def _make_figure(has: dict[str, bool], rng: _Dice, h: int, w: int) -> _Figure:
    """Body proportions carry age (children: short with a large head) and gender (shoulders, hips)."""
    child, old, female = has["AgeLess18"], has["AgeOver60"], has["Female"]
    view = "front" if has["Front"] else "side" if has["Side"] else "back"
    ph = h * rng.uniform(0.80, 0.94) * (0.74 if child else 0.96 if old else 1.0)
    top = (h - ph) / 2 + rng.uniform(-0.04, 0.04) * h
    head_h = ph * (0.19 if child else 0.14)
    narrow = 0.55 if view == "side" else 1.0
    skin = SKIN[rng.integers(len(SKIN))]
    upper = CLOTHES[rng.integers(len(CLOTHES))]
    lower = _other(rng, upper, skin)
    return _Figure(
        view=view, cx=w / 2 + rng.uniform(-0.1, 0.1) * w, top=top, ph=ph, head_h=head_h, head_w=head_h * 0.78,
        shoulder_w=ph * (0.22 if female else 0.28) * narrow, hip_w=ph * (0.25 if female else 0.2) * narrow,
        waist_y=top + ph * 0.52, knee_y=top + ph * 0.76, foot_y=top + ph * 0.985, arm_w=ph * 0.06,
        wrist_y=top + ph * 0.55, scale=h / 128.0, facing=1 if rng.random() < 0.5 else -1, skin=skin,
        hair=HAIR_OLD[rng.integers(len(HAIR_OLD))] if old else HAIR_YOUNG[rng.integers(len(HAIR_YOUNG))],
        long_hair=bool(rng.random() < (0.85 if female else 0.07)), upper=upper, lower=lower,
        coat=_other(rng, lower, skin), shoe=SHOES[rng.integers(len(SHOES))],
    )  # fmt: skip


def _draw_lower(img: Image.Image, f: _Figure, has: dict[str, bool], rng: _Dice) -> None:
    """Legs, trousers/shorts/skirt with stripes or a pattern, shoes or boots."""
    d = ImageDraw.Draw(img)
    leg_w = f.hip_w * (0.5 if f.side else 0.42)
    legs = [f.cx - leg_w * 0.3, f.cx + leg_w * 0.3] if f.side else [f.cx - leg_w * 0.55, f.cx + leg_w * 0.55]
    stride = f.ph * 0.04 if f.side else 0.0
    texture = "vstripe" if has["LowerStripe"] else "dots" if has["LowerPattern"] else None
    accent = _contrasting(rng, f.lower)
    hem = f.knee_y + rng.uniform(-0.04, 0.04) * f.ph
    for k, lx in enumerate(legs):
        off = -stride if k == 0 else stride
        x0, x1 = lx - leg_w / 2 + off, lx + leg_w / 2 + off
        d.rectangle((x0, f.waist_y, x1, f.foot_y), fill=f.skin)
        if has["Trousers"]:
            _textured_polygon(img, _rect(x0, f.waist_y, x1, f.foot_y - f.ph * 0.02), f.lower, texture, accent,
                              f.lower, rng, f.scale)  # fmt: skip
        elif has["Shorts"]:
            _textured_polygon(img, _rect(x0 - 1, f.waist_y, x1 + 1, f.waist_y + f.ph * 0.13), f.lower, texture,
                              accent, f.lower, rng, f.scale)  # fmt: skip
        if has["boots"]:
            d.rectangle((x0 - 1, f.foot_y - f.ph * 0.14, x1 + 1, f.foot_y), fill=f.shoe)
        toe = f.ph * 0.03 if f.side else 1
        d.rectangle((x0 - (toe if f.facing < 0 else 1), f.foot_y - f.ph * 0.03,
                     x1 + (toe if f.facing > 0 else 1), f.foot_y), fill=f.shoe)  # fmt: skip
    if has["Skirt&Dress"]:
        flare = f.hip_w * (0.9 if f.side else 0.75)
        poly = [(f.cx - f.hip_w / 2, f.waist_y - f.ph * 0.02), (f.cx + f.hip_w / 2, f.waist_y - f.ph * 0.02),
                (f.cx + flare, hem), (f.cx - flare, hem)]  # fmt: skip
        _textured_polygon(img, poly, f.lower, texture, accent, f.lower, rng, f.scale)


def _garment(f: _Figure, has: dict[str, bool]) -> Color:
    return f.coat if has["LongCoat"] else f.upper


def _draw_upper(img: Image.Image, f: _Figure, has: dict[str, bool], rng: _Dice) -> None:
    """Torso (or long coat down to the knees) with stripes, plaid or a spliced colour block."""
    d = ImageDraw.Draw(img)
    garment = _garment(f, has)
    texture = ("stripe" if has["UpperStride"] else "plaid" if has["UpperPlaid"]
               else "splice" if has["UpperSplice"] else None)  # fmt: skip
    accent, second = _contrasting(rng, garment), _contrasting(rng, garment, 60.0)
    sw, hw = f.shoulder_w / 2, f.hip_w / 2
    if has["LongCoat"]:
        bottom = f.knee_y + f.ph * 0.03
        d.polygon([(f.cx - sw, f.shoulder_y), (f.cx + sw, f.shoulder_y), (f.cx + hw * 1.35, bottom),
                   (f.cx - hw * 1.35, bottom)], fill=garment)  # fmt: skip
        if f.view == "front":
            d.line((f.cx, f.shoulder_y + f.ph * 0.05, f.cx, bottom), fill=(15, 15, 15), width=f.width(1))
    waist = f.waist_y + (0.0 if has["LongCoat"] else f.ph * 0.01)
    torso = [
        (f.cx - sw, f.shoulder_y),
        (f.cx + sw, f.shoulder_y),
        (f.cx + hw * 1.06, waist),
        (f.cx - hw * 1.06, waist),
    ]
    _textured_polygon(img, torso, garment, texture, accent, second, rng, f.scale)
    if has["LongCoat"] and f.view == "front" and texture is not None:
        d.line((f.cx, f.shoulder_y + f.ph * 0.05, f.cx, waist), fill=(15, 15, 15), width=f.width(1))


def _draw_logo(img: Image.Image, f: _Figure, has: dict[str, bool], rng: _Dice) -> None:
    d = ImageDraw.Draw(img)
    colour = _contrasting(rng, _garment(f, has), 90.0)
    r = f.ph * 0.08
    ly = f.shoulder_y + f.ph * 0.12
    lx = f.cx + (f.facing * f.shoulder_w * 0.1 if f.side else 0)
    shape = rng.integers(3)
    if shape == 0:
        d.ellipse((lx - r, ly - r, lx + r, ly + r), fill=colour)
    elif shape == 1:
        d.polygon([(lx, ly - r * 1.2), (lx + r * 1.1, ly + r), (lx - r * 1.1, ly + r)], fill=colour)
    else:
        d.rectangle((lx - r, ly - r * 0.8, lx + r, ly + r * 0.8), fill=colour)


def _draw_long_hair(img: Image.Image, f: _Figure) -> None:
    """Hair falling to the shoulders: behind the head (front/side), over the upper back (back view)."""
    hw = f.head_w * (1.2 if f.view == "back" else 1.25)
    ImageDraw.Draw(img).rectangle(
        (
            f.cx - hw / 2,
            f.top + f.head_h * 0.3,
            f.cx + hw / 2,
            f.top + f.head_h * (2.0 if f.view == "back" else 1.9),
        ),
        fill=f.hair,
    )


def _draw_backpack(img: Image.Image, f: _Figure, rng: _Dice, behind: bool) -> None:
    """The pack on the back (back view), a box behind the body (side) or straps over the shoulders (front)."""
    d = ImageDraw.Draw(img)
    colour = CLOTHES[rng.integers(len(CLOTHES))]
    outline = (20, 20, 20)
    sw = f.shoulder_w / 2
    if f.side and behind:
        x_back = f.cx - f.facing * sw
        x_out = x_back - f.facing * f.ph * 0.1
        d.rectangle((min(x_back, x_out), f.shoulder_y + f.ph * 0.02, max(x_back, x_out), f.shoulder_y + f.ph * 0.22),
                    fill=colour, outline=outline)  # fmt: skip
    elif f.side:
        d.line((f.cx + f.facing * sw * 0.1, f.shoulder_y, f.cx - f.facing * sw * 0.6, f.shoulder_y + f.ph * 0.18),
               fill=colour, width=max(2, f.width(2)))  # fmt: skip
    elif f.view == "back" and not behind:
        pw = f.shoulder_w * 0.72
        d.rectangle((f.cx - pw / 2, f.shoulder_y + f.ph * 0.03, f.cx + pw / 2, f.waist_y - f.ph * 0.03),
                    fill=colour, outline=outline, width=f.width(1))  # fmt: skip
        d.rectangle((f.cx - pw / 3, f.waist_y - f.ph * 0.13, f.cx + pw / 3, f.waist_y - f.ph * 0.05),
                    outline=outline, width=f.width(1))  # fmt: skip
    elif f.view == "front" and behind:  # the pack sticks out beside the torso and above the shoulders
        d.rectangle((f.cx - sw * 1.3, f.shoulder_y - f.ph * 0.03, f.cx + sw * 1.3, f.shoulder_y + f.ph * 0.3),
                    fill=colour, outline=outline, width=f.width(1))  # fmt: skip
    elif f.view == "front":
        for sx in (-sw * 0.55, sw * 0.55):
            d.line((f.cx + sx, f.shoulder_y, f.cx + sx * 0.9, f.shoulder_y + f.ph * 0.3), fill=colour,
                   width=max(3, f.width(3.5)))  # fmt: skip


def _draw_shoulder_bag(img: Image.Image, f: _Figure, rng: _Dice) -> None:
    """A strap across the torso from one shoulder, the bag at the opposite hip."""
    d = ImageDraw.Draw(img)
    colour = CLOTHES[rng.integers(len(CLOTHES))]
    s = 1 if rng.random() < 0.5 else -1
    hip_x = f.cx - s * (f.hip_w / 2 + f.ph * 0.045)
    d.line((f.cx + s * f.shoulder_w * 0.35, f.shoulder_y, hip_x, f.waist_y - f.ph * 0.02), fill=colour,
           width=max(2, f.width(1.6)))  # fmt: skip
    bw, bh = f.ph * 0.11, f.ph * 0.09
    top = f.waist_y - f.ph * 0.04
    d.rectangle((hip_x - bw / 2, top, hip_x + bw / 2, top + bh), fill=colour, outline=(15, 15, 15))


def _arm_positions(f: _Figure) -> list[float]:
    if f.side:
        return [f.cx + f.facing * f.shoulder_w * 0.1]
    return [f.cx - f.shoulder_w / 2 - f.arm_w * 0.45, f.cx + f.shoulder_w / 2 + f.arm_w * 0.45]


def _draw_arms(img: Image.Image, f: _Figure, has: dict[str, bool]) -> None:
    """Sleeves cover the whole arm (long) or its top third (short); held objects bend the arms inwards."""
    d = ImageDraw.Draw(img)
    garment = _garment(f, has)
    aw = max(2, round(f.arm_w))
    for ax in _arm_positions(f):
        end_x, end_y = ax, f.wrist_y
        if has["HoldObjectsInFront"]:
            end_x = f.cx + (f.facing * f.shoulder_w * 0.65 if f.side else (ax - f.cx) * 0.55)
            end_y = f.waist_y - f.ph * 0.05
        start = (ax, f.shoulder_y + f.ph * 0.02)
        d.line((*start, end_x, end_y), fill=f.skin, width=aw)
        if has["LongSleeve"]:
            d.line((*start, end_x, end_y - f.ph * 0.02), fill=garment, width=aw)
        else:
            d.line(
                (*start, ax + (end_x - ax) * 0.38, start[1] + (end_y - start[1]) * 0.38),
                fill=garment,
                width=aw + 1,
            )
        d.ellipse((end_x - aw * 0.6, end_y - aw * 0.6, end_x + aw * 0.6, end_y + aw * 0.6), fill=f.skin)


def _draw_held_object(img: Image.Image, f: _Figure, rng: _Dice) -> None:
    d = ImageDraw.Draw(img)
    colour = CLOTHES[rng.integers(len(CLOTHES))]
    ow, oh = f.ph * 0.16, f.ph * 0.12
    ox = f.cx + (f.facing * (f.shoulder_w / 2 + ow * 0.35) if f.side else 0)
    oy = f.waist_y - f.ph * 0.1
    box = (ox - ow / 2, oy, ox + ow / 2, oy + oh)
    if rng.random() < 0.5:
        d.rectangle(box, fill=colour, outline=(15, 15, 15))
    else:
        d.ellipse(box, fill=colour, outline=(15, 15, 15))


def _draw_hand_bag(img: Image.Image, f: _Figure, rng: _Dice) -> None:
    """A small bag with a handle, hanging from the hand beside the body."""
    d = ImageDraw.Draw(img)
    colour = CLOTHES[rng.integers(len(CLOTHES))]
    hx = f.cx - f.facing * f.shoulder_w * 0.1 if f.side else _arm_positions(f)[-1]
    hy = f.wrist_y + f.ph * 0.01
    bw = bh = f.ph * 0.1
    d.arc(
        (hx - bw * 0.3, hy - bh * 0.35, hx + bw * 0.3, hy + bh * 0.35),
        180,
        360,
        fill=(20, 20, 20),
        width=f.width(1),
    )
    d.rectangle((hx - bw / 2, hy, hx + bw / 2, hy + bh), fill=colour, outline=(15, 15, 15))


def _draw_walking_stick(img: Image.Image, f: _Figure) -> None:
    x = _arm_positions(f)[0] + (f.facing * f.ph * 0.04 if f.side else -f.ph * 0.02)
    ImageDraw.Draw(img).line(
        (x, f.wrist_y, x + f.facing * f.ph * 0.02, f.foot_y), fill=(90, 60, 30), width=max(2, f.width(2.5))
    )


def _head_box(f: _Figure, old: bool) -> tuple[float, float, float, float]:
    shift = f.facing * f.ph * 0.025 if old and f.side else 0.0  # a slight stoop: head forward
    return f.cx - f.head_w / 2 + shift, f.top, f.cx + f.head_w / 2 + shift, f.top + f.head_h


def _eyes(f: _Figure, box: tuple[float, float, float, float]) -> tuple[list[float], float]:
    x0, y0, x1, _ = box
    if f.view == "front":
        return [(x0 + x1) / 2 - f.head_w * 0.22, (x0 + x1) / 2 + f.head_w * 0.22], y0 + f.head_h * 0.5
    return [(x0 + x1) / 2 + f.facing * f.head_w * 0.25], y0 + f.head_h * 0.5


def _draw_head(img: Image.Image, f: _Figure, old: bool) -> None:
    """Neck, head and hair: a face from the front and side (profile), only hair from the back."""
    d = ImageDraw.Draw(img)
    box = _head_box(f, old)
    x0, y0, x1, y1 = box
    d.rectangle(
        (f.cx - f.head_w * 0.18, y1 - f.head_h * 0.1, f.cx + f.head_w * 0.18, f.shoulder_y + 1), fill=f.skin
    )
    if f.view == "back":
        d.ellipse(box, fill=f.hair)
        return
    d.ellipse(box, fill=f.skin)
    d.chord((x0, y0, x1, y0 + f.head_h * 0.75), 180, 360, fill=f.hair)
    if f.side:
        back_x = x0 if f.facing > 0 else x1 - f.head_w * 0.55
        d.rectangle((back_x, y0 + f.head_h * 0.3, back_x + f.head_w * 0.55, y0 + f.head_h * 0.7), fill=f.hair)
    eyes, eye_y = _eyes(f, box)
    e = max(1.0, f.head_w * 0.12) / 2
    for ex in eyes:
        d.rectangle((ex - e, eye_y - e, ex + e, eye_y + e), fill=(25, 20, 20))


def _draw_glasses(img: Image.Image, f: _Figure, old: bool) -> None:
    """Dark lenses with a bridge (front) or one lens and the temple to the ear (side)."""
    d = ImageDraw.Draw(img)
    box = _head_box(f, old)
    eyes, eye_y = _eyes(f, box)
    gw, gh = f.head_w * 0.3, f.head_h * 0.16
    frame = (10, 10, 10)
    for ex in eyes:
        d.rectangle((ex - gw / 2, eye_y - gh / 2, ex + gw / 2, eye_y + gh / 2), fill=(40, 40, 55), outline=frame,
                    width=f.width(1))  # fmt: skip
    if f.view == "front":
        d.line((eyes[0] + gw / 2, eye_y, eyes[1] - gw / 2, eye_y), fill=frame, width=f.width(1))
    else:
        ear_x = (box[0] + box[2]) / 2 - f.facing * f.head_w * 0.15
        d.line((eyes[0] - f.facing * gw / 2, eye_y, ear_x, eye_y), fill=frame, width=f.width(1))


def _draw_hat(img: Image.Image, f: _Figure, old: bool, rng: _Dice) -> None:
    """A crown over the top of the head and a brim wider than the head, with a band."""
    d = ImageDraw.Draw(img)
    colour = _other(rng, f.hair, f.skin)
    x0, y0, x1, _ = _head_box(f, old)
    cx, hh = (x0 + x1) / 2, f.head_h
    brim = f.head_w * (1.55 if rng.random() < 0.6 else 1.25)
    d.rectangle((cx - f.head_w * 0.48, y0 - hh * 0.22, cx + f.head_w * 0.48, y0 + hh * 0.3), fill=colour)
    d.rectangle((cx - brim / 2, y0 + hh * 0.24, cx + brim / 2, y0 + hh * 0.36), fill=colour)
    d.line((cx - f.head_w * 0.48, y0 + hh * 0.2, cx + f.head_w * 0.48, y0 + hh * 0.2), fill=_contrasting(rng, colour),
           width=f.width(1))  # fmt: skip


def _draw_occluder(img: Image.Image, rng: _Dice) -> None:
    """Sometimes a pole, or a block entering from one side, hides part of the person."""
    if rng.random() >= 0.15:
        return
    w, h = img.size
    d = ImageDraw.Draw(img)
    colour = (rng.integers(20, 200), rng.integers(20, 200), rng.integers(20, 200))
    if rng.random() < 0.5:
        x = rng.uniform(0.1, 0.9) * w
        d.rectangle((x, 0, x + rng.uniform(0.05, 0.1) * w, h), fill=colour)
    else:
        bw = rng.uniform(0.1, 0.25) * w
        x0 = 0 if rng.random() < 0.5 else w - bw
        d.rectangle((x0, rng.uniform(0.45, 0.8) * h, x0 + bw, h), fill=colour)


def _camera(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Blur, illumination (gain, colour cast, horizontal shading) and sensor noise."""
    w = img.size[0]
    scale = img.size[1] / 128.0
    blur = rng.random() < 0.35
    radius = float(rng.uniform(0.3, 1.0)) * scale
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(radius=radius))
    arr = np.asarray(img, dtype=np.float32)
    gain = rng.uniform(0.6, 1.3) * (1.0 + rng.normal(0.0, 0.06, 3)).astype(np.float32)
    shade = 1.0 + rng.uniform(-0.2, 0.2) * np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :, None]
    arr *= gain * shade
    bank = _noise_bank()
    if arr.size < len(bank):
        start = int(rng.integers(len(bank) - arr.size))
        arr += bank[start : start + arr.size].reshape(arr.shape)
    else:  # larger than the bank: draw afresh
        arr += 4.0 * rng.standard_normal(arr.shape, dtype=np.float32)
    np.clip(arr, 0, 255, out=arr)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """Sensor noise (σ = 4 grey levels) to slice from: drawing fresh normals per image is the slow part."""
    return 4.0 * np.random.default_rng(20240229).standard_normal(1 << 21, dtype=np.float32)


def draw_pedestrian(y: np.ndarray, rng: np.random.Generator, image_size: tuple[int, int]) -> Image.Image:
    """Draw one pedestrian whose visible appearance carries the labels `y` (PA100K order).

    Each part draws from its own random stream (see `_Streams`): switching one attribute on or off
    with the same `rng` changes only the pixels of that part.
    """
    h, w = image_size
    has = {name: bool(y[i]) for name, i in A.items()}
    old = has["AgeOver60"]
    img = _background(rng, h, w)
    streams = _Streams(rng)
    f = _make_figure(has, streams["figure"], h, w)
    if has["Backpack"] and f.view != "back":
        _draw_backpack(img, f, streams["backpack"], behind=True)
    if f.long_hair and f.view != "back":
        _draw_long_hair(img, f)
    _draw_lower(img, f, has, streams["lower"])
    _draw_upper(img, f, has, streams["upper"])
    if has["UpperLogo"]:
        _draw_logo(img, f, has, streams["logo"])
    if f.long_hair and f.view == "back":
        _draw_long_hair(img, f)
    if has["Backpack"]:
        _draw_backpack(img, f, streams["backpack"], behind=False)
    if has["ShoulderBag"]:
        _draw_shoulder_bag(img, f, streams["shoulderbag"])
    _draw_arms(img, f, has)
    if has["HoldObjectsInFront"]:
        _draw_held_object(img, f, streams["hold"])
    if has["HandBag"]:
        _draw_hand_bag(img, f, streams["handbag"])
    if old:
        _draw_walking_stick(img, f)
    _draw_head(img, f, old)
    if has["Glasses"] and f.view != "back":
        _draw_glasses(img, f, old)
    if has["Hat"]:
        _draw_hat(img, f, old, streams["hat"])
    _draw_occluder(img, streams["occlusion"])
    return _camera(img, rng)


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image `index`: independent of how many images are drawn."""
    return np.random.default_rng([int(seed), int(index), GENERATOR_VERSION])


def render(seed: int, index: int, image_size: tuple[int, int] = (128, 64)) -> tuple[Image.Image, np.ndarray]:
    """Labels and image of sample `index` of the synthetic set with `seed`."""
    rng = image_rng(seed, index)
    y = sample_attributes(rng)
    return draw_pedestrian(y, rng, image_size), y


def split_sizes(n: int, splits: tuple[float, float, float]) -> tuple[int, int, int]:
    if len(splits) != 3 or any(s < 0 for s in splits) or sum(splits) <= 0:
        raise ValueError(f"splits must be three non-negative fractions (train, val, test), got {splits}")
    total = float(sum(splits))
    n_train = int(round(n * splits[0] / total))
    n_val = int(round(n * splits[1] / total))
    n_val = min(n_val, n - n_train)
    return n_train, n_val, n - n_train - n_val


def _image_name(index: int) -> str:
    return f"{index + 1:06d}.jpg"


def _render_block(task: tuple[str, int, int, int, tuple[int, int]]) -> np.ndarray:
    """Draw and save images start..stop-1 into `folder`; return their labels."""
    folder, start, stop, seed, image_size = task
    labels = np.zeros((stop - start, len(PA100K_ATTRIBUTES)), dtype=np.uint8)
    for i in range(start, stop):
        img, labels[i - start] = render(seed, i, image_size)
        img.save(os.path.join(folder, _image_name(i)), quality=92)
    return labels


def _worker_count(n: int, workers: int | None) -> int:
    if workers is not None:
        return max(1, int(workers))
    if n < 400 or not hasattr(os, "fork"):
        return 1
    return max(
        1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    )


def _write_images(folder: Path, n: int, seed: int, image_size: tuple[int, int], workers: int) -> np.ndarray:
    block = 128
    tasks = [(str(folder), s, min(n, s + block), seed, image_size) for s in range(0, n, block)]
    if workers <= 1:
        return np.concatenate([_render_block(t) for t in tasks], axis=0)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return np.concatenate(list(pool.map(_render_block, tasks)), axis=0)


def _write_mat(path: Path, variables: dict) -> None:
    """savemat with a fixed header text instead of the creation time, so a seed gives identical bytes."""
    from scipy.io import savemat

    buffer = io.BytesIO()
    savemat(buffer, variables)
    data = bytearray(buffer.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, written by snnpar.data.synthetic".ljust(116, b" ")
    path.write_bytes(bytes(data))


def _cell(names: list[str]) -> np.ndarray:
    """A MATLAB cell column of strings, as scipy.io.savemat writes it."""
    cell = np.empty((len(names), 1), dtype=object)
    for i, name in enumerate(names):
        cell[i, 0] = name
    return cell


def _config(n: int, seed: int, image_size: tuple[int, int], splits: tuple[float, float, float]) -> dict:
    return {
        "generator": "snnpar.data.synthetic",
        "version": GENERATOR_VERSION,
        "n": int(n),
        "seed": int(seed),
        "image_size": [int(image_size[0]), int(image_size[1])],
        "splits": [float(s) for s in splits],
        "layout": "pa100k",
    }


def generate(
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    image_size: tuple[int, int] = (128, 64),
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    force: bool = False,
    workers: int | None = None,
) -> Path:
    """Write `n` synthetic pedestrians to `out_dir` in PA100K's layout and return `out_dir`.

    An identical, complete set already at `out_dir` is reused unless `force`. A folder that is not a
    synthetic set is never overwritten. `workers` processes draw in parallel (default: one per CPU
    core for large sets); the result does not depend on it.
    """
    out_dir = Path(out_dir)
    if n < 3:
        raise UserError(f"n must be at least 3 (one image per split), got {n}")
    h, w = int(image_size[0]), int(image_size[1])
    if h < 32 or w < 16:
        raise UserError(f"image_size (H, W) must be at least (32, 16), got {image_size}")
    config = _config(n, seed, (h, w), splits)
    marker = out_dir / MARKER
    if out_dir.exists():
        if not marker.is_file() and any(out_dir.iterdir()):
            raise UserError(
                f"{out_dir} exists and is not a synthetic data set (no {MARKER}); "
                "choose another --out folder or empty this one"
            )
        if marker.is_file() and not force:
            try:
                if json.loads(marker.read_text()) == config:
                    return out_dir
            except (OSError, ValueError):
                pass
    n_train, n_val, n_test = split_sizes(n, splits)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    os.chmod(tmp, new_folder_mode())  # mkdtemp makes it 0700: the set is for everyone the umask allows
    try:
        (tmp / "data").mkdir()
        names = [_image_name(i) for i in range(n)]
        labels = _write_images(tmp / "data", n, seed, (h, w), _worker_count(n, workers))
        cuts = [0, n_train, n_train + n_val, n]
        annotation = {"attributes": _cell(list(PA100K_ATTRIBUTES))}
        for k, split in enumerate(("train", "val", "test")):
            annotation[f"{split}_images_name"] = _cell(names[cuts[k] : cuts[k + 1]])
            annotation[f"{split}_label"] = labels[cuts[k] : cuts[k + 1]]
        _write_mat(tmp / "annotation.mat", annotation)
        (tmp / MARKER).write_text(json.dumps(config, indent=1))
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".old"))
            os.replace(out_dir, old / "set")
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


# --- how visible each attribute's cue is ---------------------------------------------------------------

# Attributes that come as one of a group: "off" means another member of the group (the most common one).
EXCLUSIVE_GROUPS = (("Age18-60", "AgeOver60", "AgeLess18"), ("Front", "Side", "Back"),
                    ("Trousers", "Skirt&Dress", "Shorts"), ("LongSleeve", "ShortSleeve"))
# At most one of a group: "on" clears the others (the drawing shows one texture), "off" leaves none.
AT_MOST_ONE = (("UpperStride", "UpperPlaid", "UpperSplice"), ("LowerStripe", "LowerPattern"))
VISIBLE_STEP = 24  # grey levels: a pixel "shows the cue" where switching the attribute changes it this much


def _switched(y: np.ndarray, name: str, on: bool) -> np.ndarray:
    y = y.copy()
    for members in AT_MOST_ONE:
        if name in members:
            y[[A[m] for m in members]] = 0
    group = next((g for g in EXCLUSIVE_GROUPS if name in g), None)
    if group is None:
        y[A[name]] = on
        return y
    for member in group:
        y[A[member]] = 0
    alternative = group[0] if name != group[0] else group[1]
    y[A[name if on else alternative]] = 1
    return y


def cue_visibility(seed: int = 0, n: int = 48, image_size: tuple[int, int] = (128, 64)) -> dict[str, dict[str, float]]:
    """Per attribute: how much of the image its cue occupies, measured by drawing each of n images twice with
    the same randomness, the attribute on and off (for a group such as age: it or the group's common value).

    Returns {attribute: {"area": mean share of pixels that change by >= VISIBLE_STEP grey levels,
    "contrast": mean absolute change over those pixels (grey levels), "hidden": share of images where no
    pixel shows it}}. The cue of an attribute that depends on the view (glasses, held objects) counts only
    where the drawing can show it (glasses not from the back, held objects not from behind).
    """
    import copy

    out = {}
    for name in PA100K_ATTRIBUTES:
        areas, contrasts, hidden = [], [], 0
        for i in range(n):
            rng = image_rng(seed, i)
            y = sample_attributes(rng)
            if name in ("Glasses", "HoldObjectsInFront") and y[A["Back"]]:
                y = _switched(y, "Front", True)
            images = [np.asarray(draw_pedestrian(_switched(y, name, on), copy.deepcopy(rng), image_size),
                                 dtype=np.int16) for on in (True, False)]
            change = np.abs(images[0] - images[1]).max(axis=-1)
            shown = change >= VISIBLE_STEP
            areas.append(float(shown.mean()))
            contrasts.append(float(change[shown].mean()) if shown.any() else 0.0)
            hidden += not shown.any()
        out[name] = {"area": float(np.mean(areas)), "contrast": float(np.mean(contrasts)), "hidden": hidden / n}
    return out

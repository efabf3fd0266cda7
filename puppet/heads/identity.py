"""Procedural cartoon identities: everything about a head that does not change with expression.

``Identity.from_seed(seed)`` draws face shape, colours, hair style, eyes, brows, glasses, clothing
and background from one seeded generator, so a seed names a character on every machine. Seed 0 is
the proxy identity that drives ``proxy``-mode characters: a tidy, plain look, fixed by hand.

Two worlds share the seeds: ``"classic"`` (the default; the world the shipped base model was
trained on, drawn exactly as it always was) and ``"styled"``, where each identity also draws a
drawing :class:`~puppet.heads.style.Style` (outlines, fills, eye, mouth and brow styles, face
colours, hats and hoods, three-quarter rest poses) from a second generator of the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .style import BODY_STYLES, BROW_STYLES, CLASSIC, EYE_STYLES, HEADWEAR, MOUTH_STYLES, SHUT_STYLES, Style

HAIR_STYLES = ("short", "long", "spiky", "bob", "bangs", "ponytail", "bun", "side_part", "buzz", "twintails")

SKIN_TONES = ((255, 224, 196), (250, 208, 170), (234, 186, 145), (205, 150, 110), (160, 110, 75),
              (120, 80, 55), (255, 214, 200), (240, 200, 160))
HAIR_COLOURS = ((30, 25, 25), (70, 45, 30), (120, 75, 40), (200, 160, 90), (230, 210, 150),
                (170, 60, 40), (60, 70, 140), (200, 90, 140), (90, 150, 110), (220, 220, 230),
                (120, 60, 150), (40, 40, 60))
EYE_COLOURS = ((70, 45, 30), (40, 90, 160), (50, 120, 70), (120, 80, 40), (90, 60, 140),
               (30, 30, 30), (160, 60, 60), (60, 140, 170))
CLOTH_COLOURS = ((60, 80, 160), (200, 60, 60), (240, 240, 240), (40, 40, 40), (80, 160, 100),
                 (240, 190, 60), (150, 90, 180), (90, 170, 200), (230, 120, 160))
# Faces that are not skin: drawn white (as lorelei faces are), pastel, or a fantasy colour.
FANTASY_FACES = ((150, 200, 120), (120, 170, 220), (180, 150, 220), (170, 175, 185), (110, 190, 170))
BLACK_INK = (8, 8, 10)
INKS = ((35, 28, 30), BLACK_INK, (70, 40, 30), (40, 40, 70))
WORLDS = ("classic", "styled")
HEAD_SIZES = (0.9, 1.08)  # the range of Identity.head_size in both worlds (the proxy's is 1)


Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Identity:
    """Shape in head units (the face's half-height is 1); colours as RGB tuples."""

    seed: int
    face_width: float  # x radius of the face ellipsoid
    face_depth: float  # z radius
    chin: float  # how much the lower face narrows towards the chin
    head_size: float  # overall size factor
    skin: Colour
    hair_style: str
    hair: Colour
    hair_volume: float
    eye_size: float
    eye_width: float
    eye_spacing: float
    eye_tilt: float
    eye_colour: Colour
    lashes: bool
    brow_thickness: float
    brow_arch: float
    brow_colour: Colour
    nose_style: int  # 0 dot, 1 hook, 2 small line
    mouth_width: float
    lip_colour: Colour
    blush: bool
    glasses: bool
    glasses_round: bool
    cloth: Colour
    collar: bool
    background: tuple[Colour, Colour]  # top and bottom colours (equal = flat)
    style: Style = CLASSIC

    @staticmethod
    def from_seed(seed: int, world: str = "classic") -> Identity:
        """The identity ``seed`` names in ``world``; seed 0 is the proxy in every world."""
        if world not in WORLDS:
            raise ValueError(f"unknown head world {world!r}; expected one of {', '.join(WORLDS)}")
        if seed == 0:
            return PROXY
        ident = _classic(seed)
        return _styled(ident) if world == "styled" else ident


def _pick(rng: np.random.Generator, options) -> Colour:
    return tuple(int(c) for c in options[rng.integers(len(options))])


def _jitter(rng: np.random.Generator, colour, amount: int = 18) -> Colour:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def _classic(seed: int) -> Identity:
    rng = np.random.default_rng([int(seed), 0x70505])
    hair = _jitter(rng, _pick(rng, HAIR_COLOURS))
    bg_top = tuple(int(c) for c in rng.integers(60, 250, 3))
    flat = rng.random() < 0.4
    bg_bottom = bg_top
    if not flat:
        bg_bottom = tuple(int(c) for c in np.clip(np.array(bg_top) + rng.integers(-90, 40, 3), 0, 255))
    return Identity(
        seed=int(seed),
        face_width=float(rng.uniform(0.72, 0.92)),
        face_depth=float(rng.uniform(0.8, 0.95)),
        chin=float(rng.uniform(0.05, 0.35)),
        head_size=float(rng.uniform(*HEAD_SIZES)),
        skin=_jitter(rng, _pick(rng, SKIN_TONES), 10),
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        hair=hair,
        hair_volume=float(rng.uniform(1.06, 1.2)),
        eye_size=float(rng.uniform(0.15, 0.24)),
        eye_width=float(rng.uniform(0.17, 0.24)),
        eye_spacing=float(rng.uniform(0.33, 0.43)),
        eye_tilt=float(rng.uniform(-0.25, 0.3)),
        eye_colour=_jitter(rng, _pick(rng, EYE_COLOURS)),
        lashes=bool(rng.random() < 0.5),
        brow_thickness=float(rng.uniform(0.035, 0.075)),
        brow_arch=float(rng.uniform(-0.02, 0.06)),
        brow_colour=tuple(int(c * 0.7) for c in hair),
        nose_style=int(rng.integers(3)),
        mouth_width=float(rng.uniform(0.16, 0.26)),
        lip_colour=_jitter(rng, (200, 90, 90), 30),
        blush=bool(rng.random() < 0.4),
        glasses=bool(rng.random() < 0.2),
        glasses_round=bool(rng.random() < 0.5),
        cloth=_jitter(rng, _pick(rng, CLOTH_COLOURS), 25),
        collar=bool(rng.random() < 0.5),
        background=(bg_top, bg_bottom),
    )


def _luma(c: Colour) -> float:
    return 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]


def _ink(ink: Colour, face: Colour) -> Colour:
    """``ink``, or black where it would not stand out on the face (lines must read on every face)."""
    return ink if _luma(face) - _luma(ink) > 80 else BLACK_INK


def _styled(ident: Identity) -> Identity:
    """``ident`` drawn in a style of its own, from a second generator of its seed."""
    rng = np.random.default_rng([ident.seed, 0x57E1ED])
    face = rng.random()
    skin = ident.skin
    if face < 0.12:  # white, as lorelei faces are
        skin = tuple(int(c) for c in rng.integers(246, 256, 3))
    elif face < 0.24:  # pastel: a light tint of any hue
        skin = tuple(int(255 - c) for c in rng.integers(15, 70, 3))
    elif face < 0.34:
        skin = _jitter(rng, _pick(rng, FANTASY_FACES), 15)
    face_shade, hair_shade = ((1.0, 1.0), (0.86, 1.0), (0.74, 0.8))[rng.integers(3)]
    turned = rng.random() < 0.45
    yaw = float(rng.choice([-1, 1]) * rng.uniform(12, 26)) if turned else 0.0
    style = Style(
        outline=float(rng.choice([0.0, 1.0, 1.8, 2.6], p=[0.2, 0.35, 0.25, 0.2])),
        ink=_ink(_pick(rng, INKS), skin),
        face_shade=face_shade,
        hair_shade=hair_shade,
        eyes=EYE_STYLES[rng.integers(len(EYE_STYLES) - 1)],  # not "round": that comes from "emoji" below
        shut=SHUT_STYLES[rng.integers(len(SHUT_STYLES))],
        brows=BROW_STYLES[rng.integers(len(BROW_STYLES))],
        mouth=MOUTH_STYLES[rng.integers(len(MOUTH_STYLES))],
        nose=bool(rng.random() < 0.8),
        body=str(rng.choice(BODY_STYLES, p=[0.65, 0.35])),
        headwear=str(rng.choice(HEADWEAR, p=[0.7, 0.15, 0.15])),
        headwear_colour=_jitter(rng, _pick(rng, CLOTH_COLOURS), 25),
        yaw=yaw,
        fringe_drop=float(rng.uniform(0.08, 0.2)) if rng.random() < 0.3 else 0.0,
    )
    # Drawn faces give their features more room than the classic world does.
    grow = float(rng.uniform(1.0, 1.35))
    mouth_width = float(rng.uniform(0.18, 0.3))
    # Half the emoji-eyed draw round eyes (a lid over the eye, not a squash): drawn last, so that
    # every other choice a seed makes stays as it was before round eyes were drawn.
    if style.eyes == "emoji" and rng.random() < 0.5:
        style = replace(style, eyes="round")
    return replace(ident, skin=skin, style=style, eye_size=ident.eye_size * grow,
                   eye_width=ident.eye_width * grow, mouth_width=mouth_width)


# The proxy: plain, high-contrast features so the pose encoder reads expressions easily.
PROXY = Identity(
    seed=0, face_width=0.82, face_depth=0.9, chin=0.2, head_size=1.0, skin=(250, 215, 185),
    hair_style="short", hair=(60, 40, 30), hair_volume=1.1, eye_size=0.21, eye_width=0.21,
    eye_spacing=0.38, eye_tilt=0.0, eye_colour=(50, 90, 150), lashes=False, brow_thickness=0.06,
    brow_arch=0.03, brow_colour=(45, 30, 25), nose_style=2, mouth_width=0.22, lip_colour=(190, 80, 80),
    blush=False, glasses=False, glasses_round=False, cloth=(70, 90, 150), collar=False,
    background=((200, 200, 200), (200, 200, 200)),
)

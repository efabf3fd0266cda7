"""Procedural cartoon identities: everything about a head that does not change with expression.

``Identity.from_seed(seed)`` draws face shape, colours, hair style, eyes, brows, glasses, clothing
and background from one seeded generator, so a seed names a character on every machine. Seed 0 is
the proxy identity that drives ``proxy``-mode characters: a tidy, plain look, fixed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    @staticmethod
    def from_seed(seed: int) -> Identity:
        if seed == 0:
            return PROXY
        rng = np.random.default_rng([int(seed), 0x70505])

        def pick(options):
            return tuple(int(c) for c in options[rng.integers(len(options))])

        def jitter(colour, amount=18):
            return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)

        hair = jitter(pick(HAIR_COLOURS))
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
            head_size=float(rng.uniform(0.9, 1.08)),
            skin=jitter(pick(SKIN_TONES), 10),
            hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
            hair=hair,
            hair_volume=float(rng.uniform(1.06, 1.2)),
            eye_size=float(rng.uniform(0.15, 0.24)),
            eye_width=float(rng.uniform(0.17, 0.24)),
            eye_spacing=float(rng.uniform(0.33, 0.43)),
            eye_tilt=float(rng.uniform(-0.25, 0.3)),
            eye_colour=jitter(pick(EYE_COLOURS)),
            lashes=bool(rng.random() < 0.5),
            brow_thickness=float(rng.uniform(0.035, 0.075)),
            brow_arch=float(rng.uniform(-0.02, 0.06)),
            brow_colour=tuple(int(c * 0.7) for c in hair),
            nose_style=int(rng.integers(3)),
            mouth_width=float(rng.uniform(0.16, 0.26)),
            lip_colour=jitter((200, 90, 90), 30),
            blush=bool(rng.random() < 0.4),
            glasses=bool(rng.random() < 0.2),
            glasses_round=bool(rng.random() < 0.5),
            cloth=jitter(pick(CLOTH_COLOURS), 25),
            collar=bool(rng.random() < 0.5),
            background=(bg_top, bg_bottom),
        )


# The proxy: plain, high-contrast features so the pose encoder reads expressions easily.
PROXY = Identity(
    seed=0, face_width=0.82, face_depth=0.9, chin=0.2, head_size=1.0, skin=(250, 215, 185),
    hair_style="short", hair=(60, 40, 30), hair_volume=1.1, eye_size=0.21, eye_width=0.21,
    eye_spacing=0.38, eye_tilt=0.0, eye_colour=(50, 90, 150), lashes=False, brow_thickness=0.06,
    brow_arch=0.03, brow_colour=(45, 30, 25), nose_style=2, mouth_width=0.22, lip_colour=(190, 80, 80),
    blush=False, glasses=False, glasses_round=False, cloth=(70, 90, 150), collar=False,
    background=((200, 200, 200), (200, 200, 200)),
)

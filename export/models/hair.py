"""Hair that hangs below the head: what of a drawing goes with the head when it rolls.

The roll turns the head and fades out over the neck (``head_motion.neck_fade``), so that the
neck and shoulders stay as drawn. Long hair hangs beside the neck, below where the fade
begins, and the fade bent it: its top turned with the head, its ends stayed where they were
(held-out procedural identities with long hair, rolled by up to 25 degrees, drew at masked L1
0.053 where short-haired ones drew at 0.014-0.025). So a character's drawings are searched, once,
when the character is made, for the hair that hangs below the fade's start, and the head's roll
reaches it whole (``head_motion_grid``'s ``hair``).

Hanging hair is found by colour: the colour that fills most of the figure beside the lower face,
outside the face's ellipse, and the figure's pixels of that colour below there that join it. A
figure whose head is drawn alone (no neck: it rolls whole) or whose hair is the colour of its skin
or reaches the picture's bottom edge (the body or clothes of that colour: they must stay) has none.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .head_motion import ROLL_FULL, face_uv, identity_grid

# The band beside the lower face whose colour is the hair's, in face half-heights below the centre,
# from here down to where the roll's fade begins.
BAND_TOP = 0.2
# Colours nearer than this (Euclidean, RGB in [0,1]) are the same: the hair's flat colour with its
# anti-aliased edges, not the skin, the shirt or the background.
SAME_COLOUR = 0.12
# Beside the face: this far out of the proxy's face ellipse (its outline at 1).
OUTSIDE = 1.05
# The neck is drawn a shade of the face's skin, this much of it or more.
NECK = (1.0, 0.94, 0.88, 0.82)
# The hair must fill this share of the band beside the face; less is ears, outlines or collars.
MIN_SHARE = 0.03


def hanging_hair(rgb: np.ndarray, mask: np.ndarray, below: float = ROLL_FULL) -> np.ndarray | None:
    """rgb [3,S,S] and mask [S,S] in [0,1], a drawing in the proxy framing -> [S,S] float32 in
    [0,1]: its hair ``below`` face half-heights under the head's centre (where the roll's fade
    begins), with its outline; None where it has none."""
    side = mask.shape[-1]
    centres = identity_grid(side)[0, :, 0].numpy()  # [S] pixel centres in grid units
    u, v = face_uv(centres, centres)  # per column; per row, face half-heights below the centre
    figure = mask > 0.5
    beside = ((v >= BAND_TOP) & (v < below))[:, None] & (u[None, :] ** 2 + v[:, None] ** 2 > OUTSIDE ** 2)
    band = beside & figure
    if not band.any() or band.sum() < MIN_SHARE * beside.sum():
        return None
    pixels = rgb.transpose(1, 2, 0)  # [S,S,3]
    # the commonest colour there, to an eighth of each channel's range
    codes = np.round(pixels[band] * 8).astype(np.int32) @ np.array([81, 9, 1])
    keys, counts = np.unique(codes, return_counts=True)
    colour = pixels[band][codes == keys[np.argmax(counts)]].mean(0)
    near = (np.linalg.norm(pixels - colour, axis=-1) < SAME_COLOUR) & figure
    # opened: an outline's ink (which runs down the neck's edges) is no hair, however dark the hair
    thick = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, side // 50 | 1),) * 2)
    near = cv2.morphologyEx(near.astype(np.uint8), cv2.MORPH_OPEN, thick) > 0
    if (near & band).sum() < MIN_SHARE * beside.sum():
        return None
    # the cheeks and the chin, below where a fringe reaches; the neck is a shade of them
    skin = ((v > 0.1) & (v < 0.6))[:, None] & (np.abs(u) < 0.5)[None, :] & figure
    if not skin.any() or min(np.linalg.norm(np.median(pixels[skin], 0) * shade - colour) for shade in NECK) < SAME_COLOUR:
        return None  # the hair is the colour of the skin or the neck: it cannot be told from the neck
    lower = np.broadcast_to((v >= BAND_TOP)[:, None], near.shape)
    _, labels = cv2.connectedComponents((near & lower).astype(np.uint8), connectivity=8)
    joined = np.unique(labels[near & band])
    below_fade = (v >= below)[:, None]
    hair = np.isin(labels, joined[joined > 0]) & below_fade
    if not hair.any() or hair[-1].any():
        return None
    # its outline and anti-aliased edge go with it: the figure's pixels within a few of it
    reach = max(1, round(side / 64))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    grown = cv2.dilate(hair.astype(np.uint8), kernel) > 0
    return (grown & (mask > 0.02) & below_fade).astype(np.float32)


def hair_maps(references: torch.Tensor, side: int, below: float = ROLL_FULL) -> torch.Tensor | None:
    """uint8 [R,4,S,S] drawings (RGB and mask) -> [R,1,side,side] float32: each drawing's hanging
    hair (:func:`hanging_hair`, ``below`` where the roll's fade begins) at the model's side, where
    the head motion is computed; None where no drawing has any."""
    drawings = references.float().numpy() / 255
    found = [hanging_hair(d[:3], d[3], below) for d in drawings]
    if all(h is None for h in found):
        return None
    full = np.stack([np.zeros(drawings.shape[-2:], np.float32) if h is None else h for h in found])[:, None]
    return F.interpolate(torch.from_numpy(full), size=(side, side), mode="area")

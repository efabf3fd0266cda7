"""How a frozen character composes its drawings by strokes, so that no line is drawn in two pieces.

The warp head's regions were learnt on procedural heads and end where they end. On a drawing whose
features lie elsewhere (Mina, in three-quarter view, her brows high above her eyes) the regions
cross its lines, and where an eye took one drawing and the rest of the face another, a brow or
the eye itself was drawn in two pieces, part from each (the demo clip: in 24 % of its frames an
eye or the mouth took another drawing than the rest of her face).

So a character whose drawings share one pose (a sheet drawn alike) composes them by strokes: the
rest of the face's drawing b and, over it, for each of the eyes and the mouth that took another
drawing a, the strokes in which a differs from b that are its own, each whole. A stroke is the
region's it leads to: each pixel where the drawings differ goes to the region nearest it by a
path that runs along the differences at a fraction of the cost of crossing pixels where the
drawings agree; beyond the region's reach it stays the rest's. Where one connected stroke would
go to two owners (a line from an eye to the mouth, or one running beyond the reach), the region
cannot take a over b whole: it clashes, and at inference keeps the rest's drawing instead
(``WarpHead.choose``). A sheet whose drawings differ in one feature each (the procedural heads')
composes freely; one whose drawings differ everywhere at once (Mina's) shows one drawing at a
time, whole.

The maps reach a margin beyond their strokes, so that their soft edges lie where the drawings
agree and mix nothing visible.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .head_motion import within

# Colour or mask differences of more than this (in [0, 1]) are strokes that differ.
DIFFERENCE = 0.12
# A path along a stroke costs this much of one across pixels where the drawings agree.
ALONG_STROKE = 0.05
# The maps reach this fraction of the side beyond their strokes, each point to the owner of the
# nearest stroke.
MARGIN = 0.025
# A region takes strokes at most this fraction of the side beyond where it lies: on drawings that
# differ everywhere a little (a hand-drawn sheet whose outlines do not overlay), the differences
# join long strokes, and an eye would otherwise take the whole face's outline.
MAX_REACH = 0.2
# The maps are kept at half the model's side (and sampled at half the output's): their edges lie
# where the drawings agree.
DOWNSAMPLE = 2


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Each pixel's distance (in pixels) to the nearest True pixel of ``mask`` (inf if none)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)


def _grid_edges(side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8-neighbour edges of a side x side pixel grid: (from, to, length), both ways."""
    index = np.arange(side * side).reshape(side, side)
    starts, ends, lengths = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = index[:side - dy, max(0, -dx):side - max(0, dx)]
        b = index[dy:, max(0, dx):side - max(0, -dx)]
        starts += [a.ravel(), b.ravel()]
        ends += [b.ravel(), a.ravel()]
        lengths += [np.full(a.size * 2, np.hypot(dy, dx), np.float32)]
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(lengths)


def _nearest_seed(differs: np.ndarray, seeds: np.ndarray, edges) -> np.ndarray:
    """[h,h]: the seed (its value in ``seeds``) nearest each pixel by a path along ``differs``
    at ALONG_STROKE of the cost of crossing other pixels."""
    start, end, length = edges
    step = np.where(differs.ravel()[end], ALONG_STROKE, 1.0) * length
    graph = csr_matrix((step, (start, end)), shape=(differs.size, differs.size))
    _, _, nearest = dijkstra(graph, indices=np.flatnonzero(seeds.ravel() >= 0), min_only=True,
                             return_predecessors=True)
    return seeds.ravel()[nearest].reshape(differs.shape)


class Strokes(NamedTuple):
    """maps [G,R,R,h',h'] float 0/1: map [g, a, b] is where region g (an eye or the mouth),
    having taken drawing a while the rest of the face took b, draws a; clash [G,R,R] float 0/1:
    1 where it cannot take a over b whole; box: the rows and columns of the maps (first, last + 1)
    outside which every map, sampled bilinearly, is 0."""
    maps: torch.Tensor
    clash: torch.Tensor
    box: tuple[int, int, int, int]

    @property
    def whole(self) -> bool:
        """Whether every region clashes with every drawing but the rest's: the sheet is then drawn
        one drawing at a time, whole."""
        return bool((self.clash + torch.eye(self.clash.shape[-1])).ge(1).all())


def stroke_maps(references: torch.Tensor, regions: torch.Tensor) -> Strokes:
    """references [R,4,h,h] in [0,1] (RGB and mask, at the model's side h), regions [G,h,h] in
    [0,1] (how much each of the eyes and the mouth covers each pixel of the sheet) -> their
    strokes, the maps at h/2."""
    refs, cover = references.float().numpy(), regions.float().numpy()
    r, side, count = refs.shape[0], refs.shape[-1], len(cover)
    rest = count  # the owner index of the rest of the face
    reach, margin = MAX_REACH * side, max(1.0, MARGIN * side)
    distance = np.stack([_distance_to(c > 0.5) for c in cover])  # to where each region lies
    seeds = np.where(cover.max(0) > 0.5, cover.argmax(0), -1)
    edges = _grid_edges(side)
    maps = np.zeros((count, r, r, side, side), np.float32)
    clash = np.zeros((count, r, r), np.float32)
    for a, b in itertools.combinations(range(r), 2):  # where a and b differ: the same both ways
        differs = np.abs(refs[a] - refs[b]).max(0) > DIFFERENCE
        owner = _nearest_seed(differs, seeds, edges) if (seeds >= 0).any() else np.full(differs.shape, rest)
        for g in range(count):  # beyond its reach a region's stroke would be cut
            owner[(owner == g) & (distance[g] > reach)] = rest
        owner = np.where(differs, owner, -1)
        # strokes: the differences, anti-aliased fragments of one line joined
        _, strokes = cv2.connectedComponents(cv2.dilate(differs.astype(np.uint8), np.ones((3, 3), np.uint8)))
        for g in range(count):
            mine = np.unique(strokes[owner == g])
            others = np.unique(strokes[(owner >= 0) & (owner != g)])
            clash[g, a, b] = clash[g, b, a] = float(np.isin(mine, others).any())
        # every point within the margin of a stroke goes to the owner of the nearest stroke
        to_stroke = np.stack([_distance_to(owner == g) for g in range(count + 1)])
        nearest, near = to_stroke.argmin(0), to_stroke.min(0) <= margin
        for g in range(count):
            maps[g, a, b] = maps[g, b, a] = (nearest == g) & near
    small = F.max_pool2d(torch.from_numpy(maps).view(-1, 1, side, side), DOWNSAMPLE)
    small = small.view(*maps.shape[:3], *small.shape[-2:])
    return Strokes(small, torch.from_numpy(clash), _support(small))


def _support(maps: torch.Tensor) -> tuple[int, int, int, int]:
    """The box of :class:`Strokes`: where any map is 1, grown by a cell on each side (bilinear
    sampling spreads a cell's value up to a cell from its centre); empty where none is."""
    side = maps.shape[-1]
    rows, cols = (torch.nonzero(maps.amax(dim=(0, 1, 2, axis))).flatten() for axis in (4, 3))
    if not len(rows):
        return 0, 0, 0, 0
    return (max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, side),
            max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, side))


def taken_maps(maps: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    """[N,G,h',h']: the map of each of the eyes and the mouth for the drawing it took over the one
    the rest of the face took; ``maps`` [G,R,R,h',h'], ``taken`` [N,G+1] (the rest's last)."""
    count, r, cells = maps.shape[0], maps.shape[1], maps.shape[-1]
    pair = torch.arange(count, device=taken.device) * (r * r) + taken[:, :count] * r + taken[:, count:]  # [N,G]
    return maps.reshape(-1, cells, cells)[pair.flatten()].view(taken.shape[0], count, cells, cells)


def shared(over: torch.Tensor) -> torch.Tensor:
    """[N,G,...] how much each of the eyes and the mouth takes each point: where two take the same
    point (strokes of two pairs that overlap: rare) they share it, so that no point is taken more
    than whole."""
    return over / over.sum(1, keepdim=True).clamp(min=1.0)


def strokes_taken(stack: torch.Tensor, taken: torch.Tensor, strokes: Strokes, grid: torch.Tensor
                  ) -> torch.Tensor | None:
    """[N,4,S,S]: what the strokes each of the eyes and the mouth takes from its own drawing add to
    the rest of the face's drawing, sampled at ``grid`` [N,S,S,2] (where each output point is found
    on the sheet; beyond its edge, the edge's pixels: ``head_motion.within``); None where no stroke
    lies. ``stack`` [1,4,R*T,T] the drawings (RGB and mask)
    stacked (``warp_head.stacked``), ``taken`` [N,G+1] each region's drawing (the rest's last).

    Composed on the sheet (in the box where strokes lie, at the texture's side) and then sampled
    once: composed after sampling, every region's drawing was sampled over the whole picture (16
    channels against 4) for the strokes of a small part of it (Jun's and Hana's frames,
    tests/data/drawn, in onnxruntime on the 2-core CPU: 12 -> 9.5 ms; the pictures the same within
    1e-5). Only the box is composed and sampled from, zero beyond it, so that the sum with the rest's
    drawing sampled alone is the composed sheet sampled: composing the whole sheet copied the
    rest's drawing out of the texture for every frame (9 MB at 768 px; their frames 16.2-16.6 ms
    against 14.6-15.3, and 12.9-13.4 with the maps resized to the box instead of sampled at its
    texels: the same pictures where the texture's side is a whole multiple of the maps', as at 256
    and 512 px; within a texel of them otherwise)."""
    n, count, cells = taken.shape[0], strokes.maps.shape[0], strokes.maps.shape[-1]
    c, side = stack.shape[1], stack.shape[-1]
    r0, r1, c0, c1 = strokes.box
    if r0 == r1:
        return None
    # the box in texels: every texel that overlaps it
    y0, y1, x0, x1 = r0 * side // cells, -(-r1 * side // cells), c0 * side // cells, -(-c1 * side // cells)
    over = shared(F.interpolate(taken_maps(strokes.maps, taken)[..., r0:r1, c0:c1], size=(y1 - y0, x1 - x0),
                                mode="bilinear", align_corners=False))  # [N,G,h,w]
    rows = (taken * side)[..., None] + torch.arange(y0, y1, device=taken.device)  # [N,G+1,h] in the stack
    box = stack[0, :, rows.flatten(), x0:x1].view(c, n, count + 1, y1 - y0, x1 - x0).permute(1, 2, 0, 3, 4)
    own, under = box[:, :count], box[:, count]  # [N,G,4,h,w], [N,4,h,w]
    change = (over[:, :, None] * (own - under[:, None])).sum(1)  # [N,4,h,w]
    x, y = within(grid, side).unbind(-1)  # grid units of the sheet -> of the box
    in_box = torch.stack([((x + 1) * side - 2 * x0) / (x1 - x0) - 1, ((y + 1) * side - 2 * y0) / (y1 - y0) - 1], -1)
    return F.grid_sample(change, in_box, mode="bilinear", padding_mode="zeros", align_corners=False)

"""Procedural webtoon heads: the proxy face of ``proxy`` driving and the synthetic training world.

``Identity.from_seed(seed)`` names a character (``world="styled"`` draws it in a drawing style of
its own); ``render_head(identity, params, size)`` draws it with a :mod:`puppet.params` vector.
Live side: numpy and OpenCV only.
"""

from .identity import HAIR_STYLES, HEAD_SIZES, PROXY, WORLDS, Identity
from .rate import measure_render_rate
from .render import CENTRE, HeadRender, render_head
from .style import Style

__all__ = ["CENTRE", "HAIR_STYLES", "HEAD_SIZES", "PROXY", "WORLDS", "HeadRender", "Identity", "Style",
           "measure_render_rate", "render_head"]

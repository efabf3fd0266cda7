"""Procedural webtoon heads: the proxy face of ``proxy`` driving and the synthetic training world.

``Identity.from_seed(seed)`` names a character; ``render_head(identity, params, size)`` draws it
with a :mod:`puppet.params` vector. Live side: numpy and OpenCV only.
"""

from .identity import HAIR_STYLES, PROXY, Identity
from .rate import measure_render_rate
from .render import CENTRE, HeadRender, render_head

__all__ = ["CENTRE", "HAIR_STYLES", "PROXY", "HeadRender", "Identity", "measure_render_rate", "render_head"]

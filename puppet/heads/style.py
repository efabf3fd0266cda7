"""Drawing styles: how a head is drawn, as opposed to what it looks like (``Identity``).

``CLASSIC`` is the look of the original procedural world (and of the proxy head); the styled world
draws one ``Style`` per identity. Every choice here responds to the same expression parameters, so
rendered training data keeps its labels in every style.
"""

from __future__ import annotations

from dataclasses import dataclass

EYE_STYLES = ("classic", "dot", "oval", "anime", "emoji", "round")
SHUT_STYLES = ("line", "arc", "lashes")  # a shut eye: a lid line, "^" arcs, a lower arc with lashes
BROW_STYLES = ("classic", "line", "short")
MOUTH_STYLES = ("classic", "line", "toothy", "D", "o")
BODY_STYLES = ("full", "none")  # "none": a head without neck or body
HEADWEAR = ("none", "hat", "hood")


@dataclass(frozen=True)
class Style:
    outline: float = 1.0  # silhouette outline width in units of size/110 px; 0 = none
    ink: tuple[int, int, int] = (35, 28, 30)  # colour of outlines and feature lines
    face_shade: float = 0.86  # colour factor of the face's unlit side; 1 = flat fill
    hair_shade: float = 1.0  # colour factor of the hair behind the head
    eyes: str = "classic"
    shut: str = "line"
    brows: str = "classic"
    mouth: str = "classic"
    nose: bool = True
    body: str = "full"
    headwear: str = "none"
    headwear_colour: tuple[int, int, int] = (0, 0, 0)
    yaw: float = 0.0  # rest head turn in degrees (three-quarter views); the yaw parameter adds to it
    fringe_drop: float = 0.0  # lowers the fringe line (in face half-heights), down over the brows

    def __post_init__(self) -> None:
        for value, options in ((self.eyes, EYE_STYLES), (self.shut, SHUT_STYLES), (self.brows, BROW_STYLES),
                               (self.mouth, MOUTH_STYLES), (self.body, BODY_STYLES),
                               (self.headwear, HEADWEAR)):
            if value not in options:
                raise ValueError(f"unknown head style {value!r}; expected one of {', '.join(options)}")


CLASSIC = Style()

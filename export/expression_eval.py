"""How well a character's source images are read (``puppet-export eval-expressions``).

Fine-tuning takes each source image's expression from a reader (the dedicated expression
reader, else the base model's read-out of the pose code, unless the user gives values), so a
reader that calls open eyes shut teaches the character to shut its eyes when the driver opens
them. This module scores readers on labelled
drawings: folders of ``NAME_i.png`` with ``NAME.params.json`` (a list of parameter objects in
index order, missing names at rest), one character per ``NAME``, one drawing style per folder.

Scores per style: the share of eyes read in the right state (open/shut at 0.5), of mouths
(open/closed at 0.25), and mean absolute errors of eye openness, mouth opening and smile. Each
character's images are read in a shuffled order, so a reader that leans on file order (say, on
the first image being neutral) shows it. The ``rest`` reader always answers the rest expression
(eyes open, mouth closed): a reader worth using beats it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from puppet import params as P

if TYPE_CHECKING:
    from .base_model import BaseModel

EYE_SHUT_BELOW = 0.5
MOUTH_OPEN_ABOVE = 0.25

Reader = Callable[[list[Path]], np.ndarray]  # image paths -> float32 [N, NUM_PARAMS]


@dataclass(frozen=True)
class LabelledCharacter:
    name: str
    style: str
    paths: tuple[Path, ...]
    truth: np.ndarray  # float32 [N, NUM_PARAMS]


@dataclass(frozen=True)
class StyleScore:
    style: str
    images: int
    eye_state: float  # share of eyes in the right state
    mouth_state: float
    eye_mae: float
    mouth_mae: float
    smile_mae: float

    def row(self) -> str:
        return (f"| {self.style} | {self.images} | {100 * self.eye_state:.0f} % | {100 * self.mouth_state:.0f} % | "
                f"{self.eye_mae:.2f} | {self.mouth_mae:.2f} | {self.smile_mae:.2f} |")


TABLE_HEAD = ("| style | images | eye state | mouth state | eye MAE | mouth MAE | smile MAE |\n"
              "|---|---|---|---|---|---|---|")


def labelled_characters(folder: Path) -> list[LabelledCharacter]:
    """The labelled characters in one style folder, named by their ``NAME.params.json``."""
    found = sorted(folder.glob("*.params.json"))
    if not found:
        raise FileNotFoundError(f"{folder}: no NAME.params.json with labelled NAME_i.png images")
    characters = []
    for labels in found:
        name = labels.name.removesuffix(".params.json")
        rows = json.loads(labels.read_text())
        paths = tuple(folder / f"{name}_{i}.png" for i in range(len(rows)))
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{labels}: labels {len(rows)} images, missing {', '.join(missing)}")
        truth = np.stack([P.from_dict(row) for row in rows]).astype(np.float32)
        characters.append(LabelledCharacter(name, folder.name, paths, truth))
    return characters


def require_names(characters: list[LabelledCharacter], names: tuple[str, ...], folders: list[Path]) -> None:
    """Raise FileNotFoundError naming any of ``names`` that none of ``characters`` is called."""
    unknown = set(names) - {c.name for c in characters}
    if unknown:
        raise FileNotFoundError(f"no labelled character named {', '.join(sorted(unknown))} in "
                                f"{', '.join(map(str, folders))}")


def read_shuffled(reader: Reader, paths: tuple[Path, ...], rng: np.random.Generator) -> np.ndarray:
    """The reader's values for ``paths`` in their own order, read in a random one."""
    order = rng.permutation(len(paths))
    read = reader([paths[i] for i in order])
    out = np.empty_like(read)
    out[order] = read
    return out


def score(style: str, truth: np.ndarray, read: np.ndarray) -> StyleScore:
    """truth, read: [N, NUM_PARAMS] of one style's images."""
    eyes = [P.INDEX["eye_open_l"], P.INDEX["eye_open_r"]]
    mouth, smile = P.INDEX["mouth_open"], P.INDEX["smile"]
    return StyleScore(
        style=style,
        images=len(truth),
        eye_state=float(np.mean((truth[:, eyes] < EYE_SHUT_BELOW) == (read[:, eyes] < EYE_SHUT_BELOW))),
        mouth_state=float(np.mean((truth[:, mouth] > MOUTH_OPEN_ABOVE) == (read[:, mouth] > MOUTH_OPEN_ABOVE))),
        eye_mae=float(np.abs(truth[:, eyes] - read[:, eyes]).mean()),
        mouth_mae=float(np.abs(truth[:, mouth] - read[:, mouth]).mean()),
        smile_mae=float(np.abs(truth[:, smile] - read[:, smile]).mean()),
    )


def evaluate(reader: Reader, folders: list[Path], seed: int = 0, only: tuple[str, ...] = ()) -> list[StyleScore]:
    """One score per style folder, each character read as one set in a shuffled order; with
    ``only``, of the characters so named (say, those a reader was not trained on)."""
    rng = np.random.default_rng(seed)
    found = {folder: labelled_characters(folder) for folder in folders}
    require_names([c for characters in found.values() for c in characters], only, folders)
    scores = []
    for folder, characters in found.items():
        characters = [c for c in characters if not only or c.name in only]
        if not characters:
            continue
        truth = np.concatenate([c.truth for c in characters])
        read = np.concatenate([read_shuffled(reader, c.paths, rng) for c in characters])
        scores.append(score(folder.name, truth, read))
    return scores


def rest_reader(paths: list[Path]) -> np.ndarray:
    """The trivial answer: every image at rest (eyes open, mouth closed)."""
    return np.stack([P.neutral() for _ in paths])


def base_reader(base: BaseModel) -> Reader:
    """The base model's read-out of the pose code, on the crops fine-tuning makes."""
    from puppet.sources import CropRule, load_sources

    if base.readout is None:
        raise ValueError("this base model has no expression read-out")
    rule = CropRule.for_driving(base.cfg.driving_mode)

    def read(paths: list[Path]) -> np.ndarray:
        return base.read_expression(load_sources(paths, base.cfg.resolution, rule=rule).images)

    return read


def dedicated_reader(reader_path: Path, resolution: int, driving_mode: str = "proxy") -> Reader:
    """The dedicated expression reader (its face slots; pose at rest), each character read as one
    set, on crops at ``resolution``, framed for a base driven so: fine-tuning and the expressions
    command crop at the base model's side and scale up for the reader."""
    from puppet.expression_reader import ExpressionReader
    from puppet.sources import CropRule, load_sources

    reader = ExpressionReader(reader_path)
    rule = CropRule.for_driving(driving_mode)

    def read(paths: list[Path]) -> np.ndarray:
        sources = load_sources(paths, resolution, rule=rule)
        return reader.read(sources.images, sources.masks).values

    return read

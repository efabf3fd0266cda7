"""Character bundles: one ``NAME.puppet`` zip holding a frozen character graph and its manifest.

Layout of the zip:
- ``manifest.json``: :class:`Manifest` as JSON, with the sha256 of every other member;
- ``character.onnx``: input :data:`INPUT` float32 [N,3,H,H] RGB in [0,1] at the manifest's
  ``driver_resolution`` H (the model's); outputs :data:`OUTPUTS`: ``rgb`` [N,3,S,S] (colour
  before masking), ``mask`` [N,1,S,S] in [0,1] at its ``output_resolution`` S (a character drawn
  from its own images may be drawn sharper than the model's side), ``pose`` [N,P]. This contract
  is fixed: every graph is exported from the same networks, which take RGB in [0,1], so a
  manifest does not describe the input encoding. A warp character's graph also takes
  :data:`PREVIOUS_CHOICE` and gives :data:`CHOICE` (graphs made before them have neither);
- ``character.fp16.onnx`` (optional): the same graph with fp16 weights, same float32 I/O;
- ``thumbnail.png``.

The export side writes bundles with :func:`write_bundle` (mode 0644, whole or not at all); the
live side reads them with :func:`read_bundle`, and lists them with :func:`read_head` (manifest
and thumbnail only). Nothing in a bundle is a pickle, so opening a shared character cannot run
code.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from puppet.files import atomic_write

FORMAT_VERSION = 2  # 2: two resolutions, the driver's and the output's
SUFFIX = ".puppet"
MANIFEST = "manifest.json"
GRAPH = "character.onnx"
GRAPH_FP16 = "character.fp16.onnx"
THUMBNAIL = "thumbnail.png"
DRIVING_MODES = ("face", "proxy")
INPUT = "driver"  # the graph's one input, float32 [N,3,R,R] RGB in [0,1]
OUTPUTS = ("rgb", "mask", "pose")  # its outputs, in this order
# A warp character chooses, per region (left eye, right eye, mouth, the rest), which of its R
# drawings to draw from; given the previous frame's choice it holds each region's drawing until
# the driver is clearly nearer another, so that a driver between two drawings does not flick
# between them frame by frame. The live path feeds the choice back; zeros hold nothing.
CHOICE = "choice"  # output, float32 [N,4,R]: each region's weights over the drawings
PREVIOUS_CHOICE = "previous_choice"  # input, float32 [1,4,R]: the last frame's CHOICE, or zeros
# Side of the latent-pose face crop as a multiple of the face size: the default a bundle declares,
# and the crop of faces in driver frames and in a character's source images.
FACE_CROP_SCALE = 1.8


class BundleError(ValueError):
    """A bundle file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Manifest:
    """What a bundle declares about itself: enough for the live side to prepare driver frames.

    ``crop_scale`` is the side of the square face crop as a multiple of the face size (``face``
    mode). ``proxy_seed`` is the procedural identity whose renders drive a ``proxy`` character:
    the base model's (from its file), against which the character was fine-tuned.
    """

    name: str
    base_preset: str
    driver_resolution: int  # side of the graph's input (the model's)
    output_resolution: int  # side of its rgb and mask
    driving_mode: str
    pose_dim: int
    num_source_images: int
    created: str
    crop_scale: float = FACE_CROP_SCALE
    proxy_seed: int = 0
    format_version: int = FORMAT_VERSION
    members: dict[str, str] = field(default_factory=dict)  # member name -> sha256 hex

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> Manifest:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise BundleError(f"{source}: manifest.json is not valid JSON ({e})") from None
        if not isinstance(raw, dict):
            raise BundleError(f"{source}: manifest.json must hold a JSON object")
        if raw.get("format_version", 1) < 2:
            raise BundleError(f"{source}: a character of bundle format {raw.get('format_version', 1)}, made by an "
                              f"earlier puppet; rebuild it from its images with puppet-export character")
        known = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [n for n in required if n not in raw]
        if missing:
            raise BundleError(f"{source}: manifest.json lacks {', '.join(missing)}")
        values = {k: v for k, v in raw.items() if k in known}
        manifest = cls(**values)
        manifest.validate(source)
        return manifest

    def validate(self, source: str) -> None:
        if self.format_version > FORMAT_VERSION:
            raise BundleError(f"{source}: bundle format {self.format_version} is newer than this "
                              f"program reads ({FORMAT_VERSION}); update puppet")
        if self.driving_mode not in DRIVING_MODES:
            raise BundleError(f"{source}: driving_mode {self.driving_mode!r} is not one of {DRIVING_MODES}")
        for name in ("driver_resolution", "output_resolution"):
            side = getattr(self, name)
            if not (isinstance(side, int) and 16 <= side <= 2048):
                raise BundleError(f"{source}: {name} {side!r} is not a sane image size")
        if not (isinstance(self.pose_dim, int) and self.pose_dim > 0):
            raise BundleError(f"{source}: pose_dim {self.pose_dim!r} must be a positive integer")
        if not isinstance(self.members, dict):
            raise BundleError(f"{source}: members must map member names to checksums")


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest
    graph: bytes
    thumbnail: bytes
    graph_fp16: bytes | None = None

    @property
    def name(self) -> str:
        return self.manifest.name


@dataclass(frozen=True)
class BundleHead:
    """What a list of characters shows of a bundle: no graphs."""

    path: Path
    manifest: Manifest
    thumbnail: bytes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bundle(path: str | os.PathLike, manifest: Manifest, graph: bytes, thumbnail: bytes,
                 graph_fp16: bytes | None = None) -> Path:
    """Write a bundle atomically (see :func:`puppet.files.atomic_write`).

    The manifest's ``members`` are filled in here from the bytes actually written.
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        raise BundleError(f"{path}: a character bundle must end in {SUFFIX}")
    members = {GRAPH: graph, THUMBNAIL: thumbnail}
    if graph_fp16 is not None:
        members[GRAPH_FP16] = graph_fp16
    manifest.validate(str(path))
    manifest = Manifest(**{**asdict(manifest), "members": {k: _sha256(v) for k, v in members.items()}})

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr(MANIFEST, manifest.to_json())
            for name, data in members.items():
                z.writestr(name, data)

    return atomic_write(path, write)


def read_bundle(path: str | os.PathLike) -> Bundle:
    """Open and fully validate a bundle (zip integrity, manifest, member checksums)."""
    path = Path(path)
    manifest, data = _read(path, None)
    return Bundle(path=path, manifest=manifest, graph=data[GRAPH], thumbnail=data[THUMBNAIL],
                  graph_fp16=data.get(GRAPH_FP16))


def read_head(path: str | os.PathLike) -> BundleHead:
    """The manifest and the thumbnail, validated as :func:`read_bundle` validates them, without
    reading the graphs (tens of MB): what a list of many bundles needs. A corrupt graph is found
    when the bundle is read whole."""
    path = Path(path)
    manifest, data = _read(path, (THUMBNAIL,))
    return BundleHead(path=path, manifest=manifest, thumbnail=data[THUMBNAIL])


def _read(path: Path, only: tuple[str, ...] | None) -> tuple[Manifest, dict[str, bytes]]:
    """Check the zip's layout and the manifest, then read the members (``only`` these, when
    given), each against its checksum."""
    if not path.is_file():
        raise BundleError(f"{path}: no such character bundle")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if MANIFEST not in names:
                raise BundleError(f"{path}: not a character bundle (no {MANIFEST} inside)")
            manifest = Manifest.from_json(z.read(MANIFEST).decode("utf-8"), str(path))
            for member in (GRAPH, THUMBNAIL):
                if member not in names:
                    raise BundleError(f"{path}: bundle lacks {member}")
                if member not in manifest.members:
                    raise BundleError(f"{path}: manifest has no checksum for {member}")
            data: dict[str, bytes] = {}
            for member, digest in manifest.members.items():
                if member not in names:
                    raise BundleError(f"{path}: manifest lists {member} but the bundle lacks it")
                if only is None or member in only:
                    data[member] = z.read(member)
                    if _sha256(data[member]) != digest:
                        raise BundleError(f"{path}: {member} is corrupt (checksum mismatch)")
    except (zipfile.BadZipFile, EOFError) as e:
        raise BundleError(f"{path}: not a character bundle or truncated ({e})") from None
    except (OSError, UnicodeDecodeError, TypeError, zlib.error, NotImplementedError, RuntimeError) as e:
        # NotImplementedError: a compression zipfile lacks; RuntimeError: an encrypted member
        raise BundleError(f"{path}: cannot read bundle ({e})") from None
    return manifest, data


__all__ = [
    "DRIVING_MODES",
    "FORMAT_VERSION",
    "CHOICE",
    "INPUT",
    "OUTPUTS",
    "PREVIOUS_CHOICE",
    "SUFFIX",
    "Bundle",
    "BundleError",
    "BundleHead",
    "Manifest",
    "read_bundle",
    "read_head",
    "write_bundle",
]

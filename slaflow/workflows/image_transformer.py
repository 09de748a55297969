"""image_transformer: split a generated image into a grid, filter each tile along two chains, merge.

                         make_image                      (root: size×size×3 uint8)
              ┌──────────────┼──────────────┐
          split_tile      split_tile  …  split_tile      (grid×grid tiles, float32 in [0, 1])
           /      \\
   to_gray         blur                                   edge chain │ tone chain
      │             │
    blur         sharpen
      │             │
   edges         adjust
           \\      /
           combine                                        (tone darkened along the edges)
              └──────────────┼──────────────┘
                         merge_grid                      (sink: size×size×3 uint8)

Tasks at the defaults (size=1024, grid=4: tiles of 256×256): 1 + 16 × (1 split + 3 edge + 3 tone + 1 combine) + 1 = 130.
Filters are numpy only: 3×3 convolutions over an edge-padded tile, so each
tile is filtered independently. ``check`` runs the same pipeline
sequentially, tile by tile, and compares exactly (the pipeline is deterministic).
"""

import numpy as np

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"size": 1024, "grid": 4, "seed": 3, "brightness": 0.05, "contrast": 1.2}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"size": 4096, "grid": 64, "seed": 2**32, "brightness": 1.0, "contrast": 10.0}

BLUR = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 16
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32)
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _conv3(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3×3 correlation of an H×W or H×W×C image with edge padding (same shape, float32)."""
    pad = ((1, 1), (1, 1)) + ((0, 0),) * (img.ndim - 2)
    p = np.pad(img.astype(np.float32, copy=False), pad, mode="edge")
    h, w = img.shape[:2]
    out = np.zeros(img.shape, dtype=np.float32)
    for dy in range(3):
        for dx in range(3):
            out += kernel[dy, dx] * p[dy : dy + h, dx : dx + w]
    return out


def _image(size: int, seed: int) -> np.ndarray:
    """A size×size RGB test picture: gradients, discs and a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * np.pi * x * y)], axis=-1)
    for _ in range(8):
        cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.04, 0.15)
        color = rng.uniform(0, 1, size=3).astype(np.float32)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = color
    img += rng.normal(0, 0.03, size=img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


# --- tasks -------------------------------------------------------------------------------------


@task
def make_image(size: int, seed: int) -> np.ndarray:
    return _image(size, seed)


@task
def split_tile(image: np.ndarray, row: int, col: int, grid: int) -> np.ndarray:
    th, tw = image.shape[0] // grid, image.shape[1] // grid
    return image[row * th : (row + 1) * th, col * tw : (col + 1) * tw].astype(np.float32) / 255


@task
def to_gray(tile: np.ndarray) -> np.ndarray:
    return tile @ LUMA


@task
def blur(tile: np.ndarray) -> np.ndarray:
    return _conv3(tile, BLUR)


@task
def edges(gray: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude, scaled to [0, 1]."""
    gx, gy = _conv3(gray, SOBEL_X), _conv3(gray, SOBEL_X.T)
    return np.clip(np.hypot(gx, gy) / 4, 0, 1)


@task
def sharpen(tile: np.ndarray) -> np.ndarray:
    return np.clip(_conv3(tile, SHARPEN), 0, 1)


@task
def adjust(tile: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    return np.clip((tile - 0.5) * np.float32(contrast) + 0.5 + np.float32(brightness), 0, 1)


@task
def combine(edge: np.ndarray, tone: np.ndarray) -> np.ndarray:
    return tone * (1 - 0.6 * edge[..., None])


@task
def merge_grid(tiles: list, grid: int) -> np.ndarray:
    """Row-major tiles back into one 8-bit image (a quarter of the float32 bytes to store)."""
    rows = [np.concatenate(tiles[r * grid : (r + 1) * grid], axis=1) for r in range(grid)]
    return (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)


# --- the workflow ------------------------------------------------------------------------------


def _validate(size, grid):
    if grid < 1 or size < grid or size % grid:
        raise ValueError(f"image_transformer needs size divisible by grid, got size={size} grid={grid}")


def build(size: int = 1024, grid: int = 4, seed: int = 3, brightness: float = 0.05, contrast: float = 1.2):
    _validate(size, grid)
    image = make_image(size, seed)
    tiles = []
    for r in range(grid):
        for c in range(grid):
            tile = split_tile(image, r, c, grid)
            edge = edges(blur(to_gray(tile)))
            tone = adjust(sharpen(blur(tile)), brightness, contrast)
            tiles.append(combine(edge, tone))
    return merge_grid(tiles, grid)


def expected(
    size: int = 1024, grid: int = 4, seed: int = 3, brightness: float = 0.05, contrast: float = 1.2
) -> np.ndarray:
    image = _image(size, seed)
    tiles = []
    for r in range(grid):
        for c in range(grid):
            tile = split_tile.fn(image, r, c, grid)
            edge = edges.fn(blur.fn(to_gray.fn(tile)))
            tone = adjust.fn(sharpen.fn(blur.fn(tile)), brightness, contrast)
            tiles.append(combine.fn(edge, tone))
    return merge_grid.fn(tiles, grid)


def check(result, **params) -> bool:
    want = expected(**params)
    return (
        isinstance(result, np.ndarray)
        and result.shape == want.shape
        and result.dtype == want.dtype
        and bool(np.array_equal(result, want))
    )


register(
    LibraryWorkflow(
        "image_transformer",
        "image split into a grid, two filter chains per tile, tiles combined and merged (130 tasks)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)

"""Reading user photos robustly: any format Pillow knows -> (H, W, 3) uint8 RGB.

EXIF orientation is applied; grayscale, palette, alpha, CMYK and 16-bit images
are converted to 8-bit RGB; the whole file is decoded here, so a truncated or
corrupt file fails in :func:`read_image` with an :class:`ImageReadError`
saying which file and why, never later inside a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bench.core.errors import UserError

ReadFailure = Literal["unreadable", "truncated"]

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa", "P")
_PLAIN_MODES = ("1", "L", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


class ImageReadError(UserError):
    """A file could not be read as an image.

    ``kind`` is ``"unreadable"`` (missing, not an image, corrupt, unsupported)
    or ``"truncated"`` (the data stops before the image ends); ``detail`` says more.
    """

    def __init__(self, path: str | Path, kind: ReadFailure, detail: str) -> None:
        self.path = Path(path)
        self.kind = kind
        self.detail = detail
        super().__init__(f"{self.path}: {kind}: {detail}")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 RGB array, upright per its EXIF orientation.

    Multi-frame files (GIF, TIFF) give their first frame. Raises
    :class:`ImageReadError` for anything that is not a complete, decodable image.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return to_rgb(upright, path)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(path, "unreadable", "not an image (no known image format)") from None
    except Image.DecompressionBombError as error:
        raise ImageReadError(path, "unreadable", f"too many pixels ({error})") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        raise ImageReadError(path, "unreadable", error.strerror or type(error).__name__) from None
    except EOFError:
        raise ImageReadError(path, "truncated", "file ends before the image data") from None
    except (OSError, SyntaxError, ValueError) as error:
        if "truncated" in str(error).lower():
            raise ImageReadError(path, "truncated", str(error)) from None
        raise ImageReadError(path, "unreadable", f"corrupt image data ({error})") from None


def to_rgb(image: Image.Image, path: str | Path = "<image>") -> np.ndarray:
    """Convert a decoded Pillow image to an (H, W, 3) uint8 RGB array.

    - 16-bit grayscale (``I;16*``, and ``I`` holding values in 0..65535) is
      scaled to 0..255 (``round(v / 257)``), not clipped;
    - images with transparency (``RGBA``, ``LA``, ``P``/``PA``) are composited
      on white;
    - ``1``, ``L``, ``RGBX``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` use Pillow's conversion
      (CMYK without colour management).

    Raises :class:`ImageReadError` for other modes (e.g. 32-bit float ``F``).
    """
    mode = image.mode
    if mode == "RGB":
        rgb = np.asarray(image, dtype=np.uint8)
    elif mode in _SIXTEEN_BIT_MODES:
        gray = _sixteen_bit_to_8(np.asarray(image), mode, path)
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
    elif mode in _ALPHA_MODES:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        rgb = np.asarray(Image.alpha_composite(white, image.convert("RGBA")).convert("RGB"))
    elif mode in _PLAIN_MODES:
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    else:
        raise ImageReadError(path, "unreadable", f"unsupported pixel mode {mode!r}")
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _sixteen_bit_to_8(values: np.ndarray, mode: str, path: str | Path) -> np.ndarray:
    """Scale 16-bit samples (0..65535) to 8 bit (0..255) by rounding ``v / 257``."""
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise ImageReadError(
            path, "unreadable", f"unsupported {mode!r} image with values outside 0..65535"
        )
    return ((values * 2 + 257) // 514).astype(np.uint8)

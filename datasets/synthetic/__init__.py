"""Procedural synthetic faces: the embedded default dataset (numpy + PIL only).

Every image is drawn from a parametric face model with signed distance fields
(SDFs) and analytic anti-aliasing, so the same code renders at any size.

Coordinates are normalised: ``x`` and ``y`` run over ``[-1, 1]`` across the
image, ``x`` to the right and ``y`` downwards; one pixel is ``2 / size`` wide.
The face is aligned like a landmark-aligned crop: it is centred on ``x = 0``
and the eye centres always lie at ``y = EYE_Y``.

- identity factors (sampled once per subject): face shape, skin tone, hair
  colour and style, eye colour, size and spacing, nose, brows, lips,
  accessories, clothes, background, light direction;
- expression factors (:data:`ACTIONS`), local to brows, eyes, cheeks, nose and
  mouth, with a small per-image jitter of intensity, gaze and lighting;
- out-of-distribution styles (:data:`STYLES`), rendered from identities that
  are not in the train or test split, as filters of the same face model.

Everything is seeded through :class:`numpy.random.SeedSequence` keys, so the
same seed gives byte-identical PNGs and manifests.
"""

from datasets.synthetic.canvas import EYE_Y, HEAD_Y
from datasets.synthetic.expressions import ACTIONS, Action, jitter_action
from datasets.synthetic.face import Rendering, render_face
from datasets.synthetic.identity import ACCESSORIES, HAIR_STYLES, RGB, Identity, sample_identity
from datasets.synthetic.image import render_image
from datasets.synthetic.sheet import contact_sheet
from datasets.synthetic.styles import STYLES
from datasets.synthetic.writer import MIN_IMAGE_SIZE, generate

__all__ = [
    "ACCESSORIES",
    "ACTIONS",
    "EYE_Y",
    "HAIR_STYLES",
    "HEAD_Y",
    "MIN_IMAGE_SIZE",
    "RGB",
    "STYLES",
    "Action",
    "Identity",
    "Rendering",
    "contact_sheet",
    "generate",
    "jitter_action",
    "render_face",
    "render_image",
    "sample_identity",
]

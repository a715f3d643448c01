"""Mutation check of the fidelity tests (issue 18): apply each one-line change to a learning-rate
schedule, a loss weight or the sampler, run the golden training and sampler tests at one thread,
restore the file. Every line must print ``caught``. Run from anywhere:
``python tests/golden/check_mutations.py`` (about 2 minutes on 2 cores)."""

import os
import subprocess
import sys
from pathlib import Path

M = [
    (
        "models/stargan.py",
        'lr_schedule: str = "authors"',
        'lr_schedule: str = "linear"',
        "StarGAN lr_schedule authors -> linear (default)",
    ),
    (
        "params.yaml",
        "    lr_schedule: authors  # authors:",
        "    lr_schedule: linear  # authors:",
        "StarGAN lr_schedule authors -> linear (params)",
    ),
    (
        "models/stargan.py",
        "lr_update_step: int = 1000",
        "lr_update_step: int = 5000",
        "StarGAN lr_update_step 1000 -> 5000 (default)",
    ),
    (
        "params.yaml",
        "    lr_update_step: 1000",
        "    lr_update_step: 5000",
        "StarGAN lr_update_step 1000 -> 5000 (params)",
    ),
    (
        "models/usgan.py",
        "lambda_rec: float = 1.0",
        "lambda_rec: float = 10.0",
        "US-GAN lambda_rec 1 -> 10 (default)",
    ),
    (
        "models/usgan.py",
        "lr_update_step: int = 5000",
        "lr_update_step: int = 1000",
        "US-GAN lr_update_step 5000 -> 1000 (default)",
    ),
    (
        "models/ganimation.py",
        "decay_fraction: float = 1 / 3",
        "decay_fraction: float = 1 / 2",
        "GANimation decay_fraction 1/3 -> 1/2 (default)",
    ),
    (
        "params.yaml",
        "    lambda_cls: 1.0     # expression classification (critic on real, G on fake)",
        "    lambda_cls: 2.0     # expression classification (critic on real, G on fake)",
        "params StarGAN lambda_cls 1 -> 2",
    ),
    (
        "models/stargan.py",
        "n_critic: int = 5",
        "n_critic: int = 4",
        "StarGAN n_critic 5 -> 4 (default)",
    ),
    (
        "models/stargan.py",
        "decay_fraction: float = 0.5",
        "decay_fraction: float = 0.4",
        "StarGAN decay_fraction 0.5 -> 0.4 (default)",
    ),
    (
        "models/ganimation.py",
        "lambda_gp: float = 10.0",
        "lambda_gp: float = 5.0",
        "GANimation lambda_gp 10 -> 5 (default)",
    ),
    (
        "models/sargan.py",
        "lambda_rec: float = 1.0",
        "lambda_rec: float = 10.0",
        "SARGAN lambda_rec 1 -> 10 (default)",
    ),
    (
        "bench/sampler.py",
        "        if left == 0 or (self.drop_last and left < batch_size):",
        "        if self._position == 0 or (self.drop_last and left < batch_size):",
        "sampler: one shuffled order, never reshuffled",
    ),
    (
        "bench/sampler.py",
        "        if left == 0 or (self.drop_last and left < batch_size):",
        "        if left == 0:",
        "sampler: drop_last ignored",
    ),
]
root = Path(__file__).resolve().parents[2]
escaped = []
for path, old, new, name in M:
    p = root / path
    text = p.read_text()
    assert text.count(old) == 1, (name, text.count(old))
    p.write_text(text.replace(old, new))
    try:
        tests = ["tests/test_golden_training.py", "tests/test_sampler.py"]
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=root,
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
        print(f"{name}: {'caught by ' + failed[0][7:] if failed else 'ESCAPED'}", flush=True)
        if not failed:
            escaped.append(name)
    finally:
        p.write_text(text)
sys.exit(f"{len(escaped)} mutations escaped: {escaped}" if escaped else 0)

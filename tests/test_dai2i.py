"""DAI2I: fallback to the base translator, adaptation toward the target domain, resume, errors."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from torch import nn

from bench.adapt import adapt, adaptation_mismatch
from bench.core.errors import MissingWeightsError, UserError
from bench.core.tensors import ImageSet, to_model_range
from bench.synthesize import read_generator, synthesize
from bench.train import train as train_model
from bench.trainer import Trainer
from datasets.synthetic import generate
from datasets.tensors import load_image_set
from models.base import TrainContext, load_generator, read_checkpoint
from models.dai2i import DAI2I
from models.stargan import StarGAN

TINY_BASE = dict(conv_dim=8, res_blocks=1, critic_dim=16, critic_layers=3)
TINY = dict(
    conv_dim=8,
    res_blocks=1,
    style_dim=16,
    style_encoder_dim=4,
    style_encoder_layers=2,
    critic_dim=8,
    critic_layers=4,
    critic_scales=2,
    lr_generator=1e-3,
    lr_critic=1e-3,
    lr_classifier=1e-3,
)


class FixedFilters(nn.Module):
    """A hand-made (not learned, not random) stand-in for the perceptual network in tests, with
    three taps like VGG's relu3_1/4_1/5_1: per-channel 2x2 average pooling, horizontal and
    vertical Sobel responses, and their 4x4 average."""

    channels = (3, 6, 6)

    def __init__(self):
        super().__init__()
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4.0
        kernels = torch.stack([sobel, sobel.T]).unsqueeze(1).repeat(3, 1, 1, 1)  # 6, 1, 3, 3
        self.register_buffer("kernels", kernels)

    def forward(self, images: torch.Tensor, taps: int | None = None) -> list[torch.Tensor]:
        edges = nn.functional.conv2d(images.float(), self.kernels, padding=1, groups=3)
        features = [
            nn.functional.avg_pool2d(images.float(), 2),
            edges,
            nn.functional.avg_pool2d(edges, 4),
        ]
        return features[:taps]

    def describe(self) -> dict:
        return {"network": "test_fixed_filters", "sha256": "none", "substitute_for": None}


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[ImageSet, torch.Tensor]:
    """32 px synthetic faces (train split) and the unlabelled images of the statue style."""
    root = tmp_path_factory.mktemp("domains")
    generate(
        root,
        seed=0,
        image_size=32,
        train_subjects=6,
        test_subjects=2,
        ood_subjects=3,
        styles=["statue"],
    )
    return (
        load_image_set(root / "synthetic", split="train"),
        load_image_set(root / "synthetic_statue").images,
    )


@pytest.fixture(scope="module")
def domain_classifier(domains) -> nn.Module:
    return train_domain_classifier(*domains)


def train_domain_classifier(source: ImageSet, target: torch.Tensor) -> nn.Module:
    """A small CNN that tells real source faces (0) from real target-domain faces (1), fixed."""
    images = torch.cat([to_model_range(source.images), to_model_range(target)])
    labels = torch.cat([torch.zeros(len(source)), torch.ones(len(target))])
    torch.manual_seed(0)
    classifier = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, 2, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 1),
    )
    optimizer = torch.optim.Adam(classifier.parameters(), 1e-2)
    for _ in range(150):
        loss = nn.functional.binary_cross_entropy_with_logits(classifier(images)[:, 0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    classifier.eval().requires_grad_(False)
    accuracy = ((classifier(images)[:, 0] > 0).float() == labels).float().mean()
    assert accuracy > 0.95, f"the fixed domain classifier is too weak ({accuracy:.2f})"
    return classifier


def tiny_model(adapted_to: str | None, target: torch.Tensor | None = None) -> DAI2I:
    torch.manual_seed(0)
    base = StarGAN(32, **TINY_BASE)
    model = DAI2I.from_base(base, adapted_to, **TINY)
    if adapted_to is not None:
        model.use_perceptual(FixedFilters())
        model.set_target_domain(target)
    return model


def fit(model: DAI2I, data: ImageSet, steps: int, checkpoint_dir, every: int = 10**9) -> None:
    context = TrainContext(
        device=torch.device("cpu"),
        seed=0,
        checkpoint_dir=checkpoint_dir,
        steps=steps,
        batch_size=8,
        checkpoint_every=every,
    )
    Trainer(model, data, context).run()


def target_domain_score(model: DAI2I, classifier: nn.Module, target: torch.Tensor) -> float:
    """Mean probability that the domain classifier gives 'target domain' to the outputs."""
    model.eval()
    images = to_model_range(target)
    labels = torch.arange(len(images)) % (model.num_expressions - 1) + 1
    with torch.no_grad():
        return torch.sigmoid(classifier(model.translate(images, labels))[:, 0]).mean().item()


def reconstruction(model: DAI2I, target: torch.Tensor) -> float:
    """Mean |y_rec - y| over the target-domain images, in [0, 2] (y_rec: back through the base
    with the neutral label)."""
    model.eval()
    images = to_model_range(target)
    labels = torch.ones(len(images), dtype=torch.int64)
    with torch.no_grad():
        out = model.branches(images, labels, model._base_translate)
        return (model._reconstruct(model.branches, out) - images).abs().mean().item()


def test_on_the_training_dataset_it_is_its_base_translator(tmp_path):
    model = tiny_model(None)
    assert not model.adapted and not hasattr(model, "branches")
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    labels = torch.tensor([1, 2, 3])
    with torch.no_grad():
        assert torch.equal(model.translate(images, labels), model.base.translate(images, labels))
    model.save(tmp_path / "model.pt")
    loaded = load_generator(tmp_path / "model.pt", expected_model="dai2i")
    assert loaded.config() == model.config()
    with torch.no_grad():
        assert torch.equal(loaded.translate(images, labels), model.translate(images, labels))


def test_adaptation_moves_the_outputs_toward_the_target_domain(
    domains, domain_classifier, tmp_path
):
    source, target = domains
    model = tiny_model("synthetic_statue", target)
    before = target_domain_score(model, domain_classifier, target), reconstruction(model, target)
    fit(model, source, 60, tmp_path)
    after = target_domain_score(model, domain_classifier, target), reconstruction(model, target)
    assert after[0] > 0.8 and after[0] > before[0] + 0.3, (before, after)
    # reconstruction: 0.534 -> 0.454 (0.85x) on one machine, lower here; float32 drift between
    # CPUs moves the ratio, so the bound keeps a margin while still asking for a clear drop
    assert after[1] < 0.95 * before[1], (before, after)
    images = to_model_range(target[:4])
    with torch.no_grad():
        out = model.translate(images, torch.tensor([1, 2, 3, 4]))
    assert out.shape == images.shape and out.abs().max() <= 1.0
    with torch.no_grad():
        assert torch.equal(out, model.translate(images, torch.tensor([1, 2, 3, 4])))


def test_adaptation_resumes_exactly(domains, tmp_path):
    source, target = domains
    straight = tiny_model("synthetic_statue", target)
    fit(straight, source, 4, tmp_path / "straight")
    resumed = tiny_model("synthetic_statue", target)
    fit(resumed, source, 2, tmp_path / "resumed", every=2)
    resumed = tiny_model("synthetic_statue", target)
    fit(resumed, source, 4, tmp_path / "resumed", every=2)
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_needs_a_base_and_target_images():
    with pytest.raises(UserError, match="bench adapt"):
        DAI2I(32)
    model = tiny_model("synthetic_statue", torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(UserError, match="px"):
        model.set_target_domain(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    fallback = tiny_model(None)
    with pytest.raises(UserError, match="nothing to train"):
        fallback.prepare(None, torch.device("cpu"))


def test_without_any_perceptual_network_the_error_names_both_files(tmp_path, monkeypatch):
    from models.perceptual import perceptual_network

    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingWeightsError, match="vgg19") as error:
        perceptual_network()
    assert "inception_fid" in str(error.value)


def test_the_offline_substitute_is_a_pretrained_network_and_says_so():
    from bench.core.weights import status
    from models.perceptual import perceptual_network

    if status(["inception_fid"])[0].status != "ok":
        pytest.skip("inception_fid is not cached (`bench weights pull inception_fid`)")
    if status(["vgg19_imagenet"])[0].status == "ok":
        pytest.skip("vgg19_imagenet is cached: the substitute is not used")
    network = perceptual_network()
    assert network.describe()["substitute_for"] == "vgg19_imagenet"
    features = network(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert tuple(f.shape[1] for f in features) == network.channels == (192, 288, 768)
    assert network.describe()["layers"] == ["conv_4", "mixed_2", "mixed_7"]
    assert not any(p.requires_grad for p in network.parameters())


def test_bench_adapt_end_to_end_marks_the_adapted_rows(params_file, tmp_path, monkeypatch):
    """Train a tiny base, adapt to the OOD set, fall back on the training set; the outputs
    say which checkpoint made them and the table marks the adapted cells."""
    import models.perceptual
    from bench.config import load_config, updated
    from bench.data import prepare
    from bench.evaluate import evaluate
    from bench.report import report

    monkeypatch.setattr(models.perceptual, "perceptual_network", lambda preferred: FixedFilters())
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path / "no-weights"))  # QualiCLIP: missing
    params = updated(
        load_config(params_file),
        {
            "training.steps": {"stargan": 2, "dai2i": 3},
            "training.batch_sizes": {"dai2i": 4},
            "model_settings.stargan": TINY_BASE,
            "model_settings.dai2i": {"base": "stargan", **TINY},
            "metrics": ["l1", "qualiclip"],  # qualiclip: a "missing" cell, never marked
        },
    )
    device = torch.device("cpu")
    with pytest.raises(UserError, match="bench train --model stargan"):
        adapt(params, "dai2i", "synthetic_statue", device)
    prepare(params)
    with pytest.raises(UserError, match="bench adapt"):
        train_model(params, "dai2i", device)
    train_model(params, "stargan", device)
    for dataset in ("synthetic", "synthetic_statue"):
        path = adapt(params, "dai2i", dataset, device)
        assert path.parent.name == dataset
        # the saved fingerprint is current: `bench run` reuses it instead of adapting again
        assert adaptation_mismatch(params, "dai2i", dataset) is None
        synthesize(params, "dai2i", dataset, device)
        evaluate(params, "dai2i", dataset, device)
    ood = read_checkpoint(tmp_path / "checkpoints/dai2i/synthetic_statue/model.pt")["metadata"]
    assert ood["adaptation"]["adapted"] and ood["adaptation"]["target_images"] > 0
    assert ood["adaptation"]["perceptual_network"]["network"] == "test_fixed_filters"
    fallback = read_generator(params, "dai2i", "synthetic")["adaptation"]
    assert not fallback["adapted"] and "base translator stargan" in fallback["note"]
    metrics = json.loads((tmp_path / "results/metrics/dai2i/synthetic_statue.json").read_text())
    assert metrics["generator"]["adaptation"]["adapted"] is True
    report(params, ["dai2i"], ["synthetic", "synthetic_statue"])
    markdown = (tmp_path / "results/tables/comparison.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| dai2i")]
    assert [row.count("‡") for row in rows] == [0, 1]  # one table per dataset: L1 on
    assert "missing‡" not in rows[1]  # synthetic_statue only (not the missing QualiCLIP cell)
    assert "‡ dai2i was adapted" in markdown and "falls back to its base translator" in markdown
    assert yaml.safe_load(params_file.read_text())  # the params file itself is untouched


def test_the_papers_switches_train_and_bad_values_are_one_line_errors(domains, tmp_path):
    source, target = domains
    torch.manual_seed(0)
    paper = dict(TINY, gan_loss="lsgan", reconstruction="direct", analogy_norm="none")
    model = DAI2I.from_base(StarGAN(32, **TINY_BASE), "synthetic_statue", **paper)
    assert not hasattr(model, "analogy_norms")
    model.use_perceptual(FixedFilters())
    model.set_target_domain(target)
    fit(model, source, 2, tmp_path)
    for name in ("gan_loss", "reconstruction", "analogy_norm"):
        with pytest.raises(UserError, match=f"dai2i.{name} must be one of"):
            DAI2I.from_base(StarGAN(32, **TINY_BASE), "x", **{**TINY, name: "other"})


def test_gan_losses_the_authors_norm_and_the_papers_least_squares():
    from models.multiscale_critic import critic_loss, generator_loss

    real, fake = [torch.ones(2, 1, 2, 2)], [torch.zeros(2, 1, 2, 2)]
    # the authors' labels are swapped (fake -> 1, real -> 0) and the norm is not squared
    assert critic_loss(real, fake, "norm").item() == pytest.approx(2 * 8**0.5)
    assert generator_loss(fake, "norm").item() == 0.0
    assert critic_loss(real, fake, "lsgan").item() == 0.0
    assert generator_loss(fake, "lsgan").item() == 1.0


def test_a_second_bench_run_trains_and_adapts_nothing(params_file, tmp_path, monkeypatch, capsys):
    """`bench run --models stargan,dai2i` twice: the second reuses every checkpoint (files
    untouched) and every evaluation; the adapted checkpoints keep their fingerprint."""
    import models.perceptual
    from bench.config import load_config, updated
    from bench.run import run

    monkeypatch.setattr(models.perceptual, "perceptual_network", lambda preferred: FixedFilters())
    config = updated(
        load_config(params_file),
        {
            "models": ["identity", "stargan"],
            "training.steps": {"stargan": 2, "dai2i": 2},
            "training.batch_sizes": {"dai2i": 4},
            "model_settings.stargan": TINY_BASE,
            "model_settings.dai2i": {"base": "stargan", **TINY},
            "metrics": ["l1"],
        },
    )
    cpu = torch.device("cpu")
    run(config, ["stargan", "dai2i"], None, retrain=False, device=cpu, offline=True)
    checkpoints = sorted((tmp_path / "checkpoints").rglob("model.pt"))
    assert len(checkpoints) == 3  # stargan, dai2i on both datasets
    before = {path: path.stat().st_mtime_ns for path in checkpoints}
    capsys.readouterr()
    run(config, ["stargan", "dai2i"], None, retrain=False, device=cpu, offline=True)
    said = " ".join(capsys.readouterr().err.split())
    assert {path: path.stat().st_mtime_ns for path in checkpoints} == before, said
    assert "nothing to do: all 7 stages are current" in said, said  # train, 2 adapt, ...
    assert "running" not in said, said

"""The typed configuration: every key of ``params.yaml``, its type, range and default.

One frozen object, :class:`Config`, is built once per command from the params
file (profile merged, ``--set`` overrides applied) and handed down; nothing else
reads the raw mapping. Every default lives here (params.yaml documents it); an
unknown key, a wrong type or a value out of range is rejected by
:func:`bench.config.load.load_config` with one line naming the key's path.

Model and metric hyper-parameters (``model_settings``, ``metric_settings``) are
declared by the models and metrics themselves (a ``Settings`` dataclass, or their
constructor's keywords) and checked against those declarations
(:mod:`bench.config.plugins`), plugins included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from bench.core.errors import UserError
from bench.core.vocabulary import EXPRESSIONS

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Name = Annotated[str, Field(min_length=1)]
DATASET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
"""Dataset names: a folder name and a DVC stage-name part (no dots: DVC params paths)."""
DatasetName = Annotated[str, Field(pattern=DATASET_NAME)]

SAMPLINGS = ("authors", "epochs", "uniform", "independent")
STYLES = ("statue", "sketch", "painting", "avatar")
"""OOD styles of the synthetic set (:data:`datasets.synthetic.STYLES`; checked by a test)."""


class Section(BaseModel):
    """A block of settings: unknown keys are errors, values are checked strictly (no ``"5"`` for
    5), and the object is frozen once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- data ------------------------------------------------------------------------------------
class SyntheticSpec(Section):
    """``datasets.<name>: {kind: synthetic}``: the embedded procedural faces (the spec must be
    named ``synthetic``); also writes ``synthetic_<style>`` OOD sets."""

    kind: Literal["synthetic"]
    seed: NonNegativeInt | None = None
    """Generator seed; None: the first of the top-level ``seeds``."""


class CfeeSpec(Section):
    """``datasets.<name>: {kind: cfee, root}``: a copy of CFEE_Database_230."""

    kind: Literal["cfee"]
    root: Name
    """Folder of the CFEE copy (must exist)."""
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    """Share of subjects in the test split, in (0, 1)."""
    seed: NonNegativeInt | None = None


class FolderSpec(Section):
    """``datasets.<name>: {kind: folder, root}``: any folder of face photos (OOD, neutral sources)."""

    kind: Literal["folder"]
    root: Name
    seed: NonNegativeInt | None = None


DatasetSpec = Annotated[SyntheticSpec | CfeeSpec | FolderSpec, Field(discriminator="kind")]


class SyntheticSettings(Section):
    """``synthetic:``: sizes of the embedded synthetic set (subjects per split)."""

    train_subjects: PositiveInt = 24
    test_subjects: PositiveInt = 8
    ood_subjects: PositiveInt = 4
    images_per_expression: PositiveInt = 1
    styles: list[Literal[STYLES]] = list(STYLES)  # type: ignore[valid-type]


class IngestSettings(Section):
    """``ingest:``: face detection when ingesting photos."""

    min_face_px: PositiveInt = 40
    """Faces whose detector box side is below this (px) are skipped and reported."""


# -- training --------------------------------------------------------------------------------
class TrainingSettings(Section):
    """``training:``: the shared loop (steps and batch sizes per model)."""

    batch_size: PositiveInt = 16
    """Images per step, for models without an entry in ``batch_sizes``."""
    steps: dict[Name, PositiveInt] = {}
    """Optimisation steps per trained model (adapted models: per dataset)."""
    batch_sizes: dict[Name, PositiveInt] = {}
    checkpoint_every: NonNegativeInt = 100
    """Steps between resumable checkpoints (0 = none)."""
    checkpoint_minutes: NonNegativeFloat = 0.0
    """Also checkpoint when this many minutes passed since the last one (0 = off)."""
    sample_every: NonNegativeInt = 0
    """Steps between sample grids (0 = never)."""
    log_every: PositiveInt = 50
    """Steps between reads of the losses from the device."""
    bf16: bool = False
    """CUDA only: forward passes under bf16 autocast."""
    sampling: Literal[SAMPLINGS] = "authors"  # type: ignore[valid-type]
    cuda_fast: bool = True
    """CUDA only: channels_last + cudnn.benchmark."""

    def steps_for(self, model: str) -> int:
        """Steps of ``model`` (0 when not set: models without a training loop)."""
        return self.steps.get(model, 0)

    def batch_size_for(self, model: str) -> int:
        """``batch_sizes.<model>``, else ``batch_size``."""
        return self.batch_sizes.get(model, self.batch_size)


class ClassifierTraining(Section):
    """``ecs_classifier:``: the ResNet-18 behind ECS (AdamW, one-cycle schedule)."""

    epochs: PositiveInt = 100
    batch_size: PositiveInt = 16
    learning_rate: Annotated[float, Field(gt=0)] = 2e-3
    weight_decay: NonNegativeFloat = 1e-4
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.1
    augment: bool = True


# -- evaluation and report -------------------------------------------------------------------
class EvaluationSettings(Section):
    """``evaluation:``: synthesis and scoring."""

    batch_size: PositiveInt = 64
    bootstrap_resamples: PositiveInt = 1000
    set_bootstrap_resamples: Annotated[int, Field(ge=2)] = 200
    """Resamples of the paired bootstrap of FID and KID over source faces (pairwise.csv): each
    recomputes both for every model (and seed) on a dataset, so fewer than per image."""
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    max_sources: PositiveInt | None = None
    """Cap on source faces per dataset (None = all)."""
    strict: bool = False
    """A metric whose weights are missing is an error, not a "missing" cell."""
    synthesis_bf16: bool = False


class ReportSettings(Section):
    """``report:``."""

    figure_sources: PositiveInt = 3
    """Input faces per dataset in the comparison figure."""
    latex_columns: Annotated[list[Name], Field(min_length=1)] | None = None
    """Metric columns of the LaTeX tables (``comparison.tex``), in order; None = every column.
    Markdown and HTML always show every column."""


SBATCH_OPTION = r"^[a-z][a-z0-9-]*$"
"""An sbatch long option without its dashes (``qos``, ``constraint``, ``gres``)."""
MANAGED_SBATCH = (
    "account", "cpus-per-task", "dependency", "error", "gpus-per-node", "job-name",
    "kill-on-invalid-dep", "mem", "open-mode", "output", "partition", "signal", "time",
)  # fmt: skip
"""sbatch options the launcher sets itself (from the keys above, or per job)."""


class LauncherSettings(Section):
    """``launcher:``: how ``bench run --launcher slurm|local`` runs the stages, one job each
    (:mod:`bench.launch`); no result depends on these."""

    partition: Name | None = None
    """Slurm partition (None: the cluster's default)."""
    account: Name | None = None
    """Slurm account to charge (None: the user's default)."""
    time: PositiveInt = 240
    """Time limit of each job, minutes; a job reaching it is requeued and resumes."""
    requeues: NonNegativeInt = 3
    """Times one job may be requeued at its time limit (preemptions are not counted)."""
    gpus_per_job: NonNegativeInt | None = None
    """GPUs of each training, adaptation, classifier and evaluation job (data and report jobs
    get none). None: 1 when ``device`` (or ``--device``) is cuda, or auto on a machine with
    CUDA; else 0."""
    cpus_per_job: PositiveInt = 4
    """CPU cores of each job (also its torch threads, unless OMP_NUM_THREADS is set)."""
    mem: Annotated[str, Field(pattern=r"^[1-9][0-9]*[KMGT]?$")] | None = None
    """Memory of each job as sbatch's ``--mem`` (``16G``; a bare number is MB; None: the
    partition's default)."""
    extra: dict[Annotated[str, Field(pattern=SBATCH_OPTION)], str | int | bool] = {}
    """Other sbatch options, e.g. ``{qos: high, constraint: a100}`` (true: a bare flag)."""
    logs: Name = "logs"
    """Folder of the job logs: ``<logs>/<stage>/<job id>_0_log.out``."""

    @field_validator("extra")
    @classmethod
    def _unmanaged(cls, extra: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(extra) & set(MANAGED_SBATCH))
        if taken:
            raise ValueError(
                f"{', '.join(taken)} is set by the launcher (use the keys of launcher: or "
                "leave it out)"
            )
        return extra


class Paths(Section):
    """``paths:``: the four roots every artefact lives under (:mod:`bench.layout`)."""

    data: Name = "data"
    checkpoints: Name = "checkpoints"
    outputs: Name = "outputs"
    results: Name = "results"


# -- the whole -------------------------------------------------------------------------------
class Config(Section):
    """The resolved ``params.yaml``: defaults, the chosen profile and ``--set`` overrides."""

    profile: Name = "smoke"
    seeds: Annotated[list[NonNegativeInt], Field(min_length=1)] = [0]
    """Training seeds: every trained or adapted model trains once per seed (reference and
    fitted models once). The first also seeds what is made once: data generation and splits,
    the ECS classifier, KID's subsets, bootstrap intervals and permutation tests. A file's
    ``seed: k`` is read as ``seeds: [k]`` (:mod:`bench.config.load`)."""
    seed_data: Literal["first", "per_seed"] = "first"
    """What several ``seeds`` replicate. ``first``: only the training (data, splits and the
    ECS classifier come from the first seed, so every seed's models see the same images and
    are paired image by image). ``per_seed``: the whole benchmark, data generation and splits
    and the ECS classifier included, once per seed; every model (reference and fitted ones
    too) then has one run per seed (:func:`bench.layout.runs_per_seed`)."""
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"
    image_size: Annotated[int, Field(ge=32)] = 64
    models: Annotated[list[Name], Field(min_length=1)] = ["identity"]
    adapted_models: list[Name] = []
    train_dataset: DatasetName = "synthetic"
    eval_datasets: Annotated[list[DatasetName], Field(min_length=1)] = ["synthetic"]
    targets: Annotated[list[Literal[EXPRESSIONS]], Field(min_length=1)] = list(EXPRESSIONS[1:])  # type: ignore[valid-type]
    datasets: dict[DatasetName, DatasetSpec] = {"synthetic": SyntheticSpec(kind="synthetic")}
    synthetic: SyntheticSettings = SyntheticSettings()
    ingest: IngestSettings = IngestSettings()
    training: TrainingSettings = TrainingSettings()
    model_settings: dict[Name, dict[str, Any]] = {}
    metrics: list[Name] = []
    metric_settings: dict[Name, dict[str, Any]] = {}
    ecs_classifier: ClassifierTraining = ClassifierTraining()
    evaluation: EvaluationSettings = EvaluationSettings()
    report: ReportSettings = ReportSettings()
    launcher: LauncherSettings = LauncherSettings()
    paths: Paths = Paths()

    _overrides: tuple[str, ...] = PrivateAttr(default=())
    _run_seed: int | None = PrivateAttr(default=None)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("must list each seed once")
        return seeds

    # -- lookups every stage needs ---------------------------------------------------------
    @property
    def overrides(self) -> tuple[str, ...]:
        """The ``--set key=value`` overrides applied on top of the file (recorded in provenance)."""
        return self._overrides

    @property
    def seed(self) -> int:
        """The first seed: data generation and splits, the ECS classifier, KID's subsets,
        bootstrap intervals and permutation tests (everything made once)."""
        return self.seeds[0]

    @property
    def data_per_seed(self) -> bool:
        """True when each seed has its own data and ECS classifier (``seed_data: per_seed``
        with several seeds)."""
        return self.seed_data == "per_seed" and len(self.seeds) > 1

    @property
    def data_seed(self) -> int:
        """The seed this configuration's data, splits and ECS classifier are made with: the
        run's seed under ``seed_data: per_seed``, else the first seed."""
        return self.run_seed if self.data_per_seed else self.seed

    @property
    def run_seed(self) -> int:
        """The training seed this configuration runs (:meth:`for_seed`; default the first)."""
        return self.seeds[0] if self._run_seed is None else self._run_seed

    def for_seed(self, seed: int) -> Config:
        """This configuration for the run with training seed ``seed`` (one of ``seeds``): the
        paths of :mod:`bench.layout` and the training seed of models trained per seed follow it."""
        if seed not in self.seeds:
            raise UserError(f"seed {seed} is not one of seeds {self.seeds} (params.yaml `seeds:`)")
        copy = self.model_copy()
        copy._run_seed = seed
        return copy

    @property
    def table_models(self) -> list[str]:
        """Rows of the tables: ``models`` (trained once) then ``adapted_models`` (per dataset)."""
        return list(dict.fromkeys([*self.models, *self.adapted_models]))

    def settings_of(self, model: str) -> dict[str, Any]:
        """``model_settings.<model>`` (a copy; empty when absent)."""
        return dict(self.model_settings.get(model) or {})

    def metric_settings_of(self, metric: str) -> dict[str, Any]:
        """``metric_settings.<metric>`` (a copy; empty when absent)."""
        return dict(self.metric_settings.get(metric) or {})

    def declared_datasets(self) -> dict[str, tuple[str, DatasetSpec]]:
        """Every dataset name the configuration can produce -> (producing spec name, spec)."""
        names: dict[str, tuple[str, Any]] = {}
        for spec_name, spec in self.datasets.items():
            names[spec_name] = (spec_name, spec)
            if spec.kind == "synthetic":
                for style in self.synthetic.styles:
                    names[f"{spec_name}_{style}"] = (spec_name, spec)
        return names

    def dataset_seed(self, spec_name: str) -> int:
        """The seed a dataset spec is prepared with: its own, else :attr:`data_seed`."""
        own = self.datasets[spec_name].seed
        return self.data_seed if own is None else own

    def root(self, key: str) -> Path:
        """One of the four roots of :class:`Paths` as a path."""
        return Path(getattr(self.paths, key))

    def record(self) -> dict[str, Any]:
        """The resolved configuration as plain JSON-able data (provenance; digests)."""
        data = self.model_dump(mode="json")
        if self._run_seed is not None:
            data["run_seed"] = self._run_seed
        if self._overrides:
            data["overrides"] = list(self._overrides)
        return data

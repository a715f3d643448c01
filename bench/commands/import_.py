"""``bench import``: the authors' released generator checkpoints as harness checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.commands.options import ParamsOpt, ProfileOpt, SetOpt, load_config_from
from bench.core.progress import console


def import_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="the authors' generator file: StarGAN *-G.ckpt, US-GAN / SARGAN *_G.ckpt, "
            "GANimation net_epoch_*_id_G.pth"
        ),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help="stargan | usgan | sargan | ganimation")
    ],
    labels: Annotated[
        str | None,
        typer.Option(
            help="the checkpoint's classes in channel order, comma-separated (our names or "
            "AFS ANS DIS HAS NES SAS SUS); default: the authors' class-sorted folders"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="output (default checkpoints/<model>/<train_dataset>/model.pt)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="replace an existing checkpoint at the output")
    ] = False,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Import a generator released by a baseline's authors; synthesize / evaluate / run use it.

    The file must hold a generator of the --model's design (residual
    blocks, SARGAN's attention block, GANimation's heads and 17 action
    units); a file of another design is refused, naming the model it
    fits. An existing checkpoint is replaced only with --force.
    """
    from bench.importing import import_checkpoint

    names = [n.strip() for n in labels.split(",") if n.strip()] if labels else None
    config = load_config_from(params_file, profile, sets)
    target = import_checkpoint(config, model, checkpoint, names, out, force)
    console.print(f"imported {checkpoint} -> {target}")

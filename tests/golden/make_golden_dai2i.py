"""Golden reference data for DAI2I (xiaogang00/DAI2I, CVPR 2020), produced by RUNNING
the authors' own network classes (NOT part of this repository).

Reproduce
---------
1. Check out xiaogang00/DAI2I at commit 31260219b514aee7b0bbd8998ec86c644b5bfd65.
   No source edits are needed.  `network/base_network.py` (VGG, only used for its
   parameter count) imports `util.logger`, which needs the `colored` package; if it is
   not installed we put a stub `colored` module (fg/bg/attr) in sys.modules.
2. Run (CPU, produced with torch 2.14.1):

       OMP_NUM_THREADS=1 python make_golden_dai2i.py --authors-repo /path/to/DAI2I --out tests/golden

Writes
* dai2i_param_counts.json   exact parameter counts of every class at the sizes the
  authors' training script uses (config/expression_manipulation/options.yaml +
  run_expression_manipulation.py:56-78).
* dai2i_forward.pt          tiny translation network `adain_net.Generator_split_v2`
  (both branches cond=0 / cond=1, style encoder `im2style`), the base StarGAN
  `model_stargan.Generator` and the classifier `Adapt_Net.domain_invariant`.
  Generator_split_v2 hard-codes the style encoder as classifier(n_layer=4, channels=16,
  num_classes=256) (adain_net.py:143), ~0.76 M parameters; for the tiny golden we
  replace the attribute `G.im2style` by the authors' `cls_net.classifier(n_layer=4,
  channels=1, num_classes=256)` (same key names, smaller shapes; style_dim stays 256).
* dai2i_critic.pt           tiny `stargan_model.Discriminator_split_sn_multiScale`
  (spectral norm; one forward in train mode = one power iteration, state before/after,
  plus the LSGANLoss_multiScale values of GanLoss.py computed with the authors' class).
"""

import argparse
import json
import os
import sys
import types

import torch


def sd_copy(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def nparams(m):
    return int(sum(p.numel() for p in m.parameters()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--authors-repo", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", default=None)
    args = ap.parse_args()
    repo = os.path.abspath(args.authors_repo)
    sys.path.insert(0, repo)
    torch.set_num_threads(1)
    torch.nn.Module.cuda = lambda self, *a, **k: self  # GanLoss.py uses .cuda() on label tensors
    torch.Tensor.cuda = lambda self, *a, **k: self
    try:
        import colored  # noqa: F401
    except ImportError:
        col = types.ModuleType("colored")
        col.fg = col.bg = col.attr = lambda *a, **k: ""
        sys.modules["colored"] = col
    commit = args.commit
    if commit is None:
        try:
            import subprocess

            commit = subprocess.check_output(
                ["git", "-C", repo, "rev-parse", "HEAD"], text=True, stderr=subprocess.DEVNULL
            ).strip()
        except Exception:
            commit = "unknown"
    os.makedirs(args.out, exist_ok=True)

    import yaml
    from network import Adapt_Net, GanLoss, adain_net, cls_net, model_stargan, stargan_model
    from network.base_network import VGG

    # ---------------------------------------------------------------- param counts
    with open(os.path.join(repo, "config/expression_manipulation/options.yaml")) as f:
        config = yaml.safe_load(f)
    G = adain_net.Generator_split_v2(**config["generator"])
    D = stargan_model.Discriminator_split_sn_multiScale(**config["discrim"])
    C = Adapt_Net.domain_invariant(7, num_classes=len(config["attr_names"]))
    base = model_stargan.Generator(conv_dim=64, c_dim=8, repeat_num=6)
    vgg = VGG(pretrained=False)
    counts = {
        "authors_commit": commit,
        "config_generator": config["generator"],
        "config_discrim": config["discrim"],
        "translator_G (adain_net.Generator_split_v2)": {
            "total": nparams(G),
            "main1 (adain_net.Generator, branch cond=0: target->source)": nparams(G.main1),
            "main2 (adain_net.Generator, branch cond=1: source->target)": nparams(G.main2),
            "im2style (cls_net.classifier n_layer=4 channels=16 num_classes=256)": nparams(
                G.im2style
            ),
            "main1.AdaIN style convs (all AdaptiveInstanceNorm.style)": int(
                sum(
                    nparams(mod.style)
                    for mod in G.main1.modules()
                    if isinstance(mod, adain_net.AdaptiveInstanceNorm)
                )
            ),
        },
        "critic_D (stargan_model.Discriminator_split_sn_multiScale, conv_dim=64 default)": {
            "total": nparams(D),
            "main1 (trained, used with src_cond=0)": nparams(D.main1),
            "main2 (constructed + optimised but never used in a loss)": nparams(D.main2),
            "spectral_norm_buffers_per_main (u,v vectors; not parameters)": int(
                sum(b.numel() for n, b in D.main1.named_buffers())
            ),
        },
        "classifier (Adapt_Net.domain_invariant(n_layers=7, num_classes=8))": {
            "total": nparams(C),
            "batchnorm_buffers": int(
                sum(b.numel() for n, b in C.named_buffers() if "num_batches" not in n)
            ),
        },
        "base_stargan (model_stargan.Generator(conv_dim=64, c_dim=8, repeat_num=6), frozen, not optimised)": nparams(
            base
        ),
        "vgg19_to_relu5_1 (base_network.VGG, frozen, perceptual/analogy loss)": nparams(vgg),
    }
    with open(os.path.join(args.out, "dai2i_param_counts.json"), "w") as f:
        json.dump(counts, f, indent=2)
    print(json.dumps(counts, indent=2))

    # ---------------------------------------------------------------- tiny forward
    hp = dict(
        image_size=16,
        conv_dim=2,
        repeat_num=1,
        n_down=1,
        c_dim=0,
        condition=True,
        act_type="lrelu",
        style_dim=256,
        im2style_channels=1,
        im2style_n_layer=4,
        base_conv_dim=2,
        base_c_dim=8,
        base_repeat_num=1,
        classifier_n_layers=2,
        classifier_classes=8,
        base_targets=[0, 3, 5, 7],
    )
    torch.manual_seed(0)
    G = adain_net.Generator_split_v2(
        conv_dim=hp["conv_dim"],
        c_dim=0,
        repeat_num=hp["repeat_num"],
        n_down=hp["n_down"],
        condition=True,
        act_type="lrelu",
    )
    G.im2style = cls_net.classifier(
        n_layer=hp["im2style_n_layer"],
        channels=hp["im2style_channels"],
        num_classes=hp["style_dim"],
    )
    base = model_stargan.Generator(
        conv_dim=hp["base_conv_dim"], c_dim=8, repeat_num=hp["base_repeat_num"]
    )
    clf = Adapt_Net.domain_invariant(
        hp["classifier_n_layers"], num_classes=8
    )  # needs 2**n_layers input
    g_sd, base_sd, clf_sd = sd_copy(G), sd_copy(base), sd_copy(clf)
    gen = torch.Generator().manual_seed(1234)
    S = hp["image_size"]
    x = torch.rand(2, 3, S, S, generator=gen) * 2 - 1  # "dst" image, also the style image
    G.eval()
    base.eval()
    with torch.no_grad():
        _, style = G.im2style(x)
        out0 = G(x, 0, x)  # img_BA  = G(dst_img, src_cond=0, dst_img)
        out1 = G(x, 1, x)  # G(., dst_cond=1, dst_img)
        base_out = []
        for i in hp["base_targets"]:
            c = torch.zeros(2, 8)
            c[:, i] = 1
            img_BAG = base(out0, c)
            base_out.append(torch.stack([img_BAG, G(img_BAG, 1, x)]))
    clf.train()  # the authors train the classifier in train mode (optim_trainable_space.py:308)
    x_clf = (
        torch.rand(
            2, 3, 2 ** hp["classifier_n_layers"], 2 ** hp["classifier_n_layers"], generator=gen
        )
        * 2
        - 1
    )
    with torch.no_grad():
        feat, logits = clf(x_clf)
    fwd = dict(
        model="dai2i",
        authors_commit=commit,
        hparams=hp,
        G_state_dict=g_sd,
        base_stargan_state_dict=base_sd,
        classifier_state_dict=clf_sd,
        classifier_state_dict_after_train_forward=sd_copy(clf),
        x=x,
        style=style,
        G_out_cond0=out0,
        G_out_cond1=out1,
        base_and_back=torch.stack(
            base_out
        ),  # [len(base_targets), 2 (img_BAG, img_BAGB), B, 3, S, S]
        x_classifier=x_clf,
        classifier_feature=feat,
        classifier_logits=logits,
        note="G in eval mode (no running stats anywhere in G, so eval==train). base StarGAN is "
        "network/model_stargan.Generator (track_running_stats=False). Classifier forward in "
        "train mode (BatchNorm uses batch stats and updates running stats).",
    )
    torch.save(fwd, os.path.join(args.out, "dai2i_forward.pt"))

    # ---------------------------------------------------------------- tiny critic
    torch.manual_seed(0)
    chp = dict(image_size=32, conv_dim=2, repeat_num=4, n_scale=3, norm="none")
    D = stargan_model.Discriminator_split_sn_multiScale(**chp)
    d_sd = sd_copy(D)
    gen = torch.Generator().manual_seed(77)
    real = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    fake = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    D.train()
    with torch.no_grad():
        out_real = D(
            real, 0
        )  # list: 1x1-conv heads after layers 2,3,4 (1-based; 3 of 4) + final conv
        out_fake = D(fake, 0)
    gl = GanLoss.LSGANLoss_multiScale()
    loss_d = gl(out_fake, out_real, "d")
    loss_g = gl(out_fake, None, "g")
    crit = dict(
        model="dai2i_critic",
        authors_commit=commit,
        hparams=chp,
        D_state_dict_before=d_sd,
        D_state_dict_after=sd_copy(D),
        real=real,
        fake=fake,
        out_real=[o.clone() for o in out_real],
        out_fake=[o.clone() for o in out_fake],
        lsgan_loss_d=float(loss_d),
        lsgan_loss_g=float(loss_g),
        note="Two forwards in train mode (real then fake) -> two spectral-norm power iterations on "
        "main1; main2 untouched. LSGANLoss_multiScale: d = sum_k ||fake_k - 1||_2 + "
        "||real_k - 0||_2 (Frobenius norm, NOT squared/mean; fake->1, real->0), "
        "g = sum_k ||fake_k - 0||_2.",
    )
    torch.save(crit, os.path.join(args.out, "dai2i_critic.pt"))


if __name__ == "__main__":
    main()

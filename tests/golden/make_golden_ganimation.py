"""Golden reference data for GANimation, produced by RUNNING the authors' own code
(albertpumarola/GANimation, NOT part of this repository).

Reproduce
---------
1. Check out albertpumarola/GANimation at commit
   40da9ae1a88e6a3c38cd6548be08a61cbd6695ba and apply these Python-3 syntax fixes
   to YOUR COPY (the code is Python 2 / PyTorch 0.3 era; nothing numerical changes):

   * networks/networks.py:116      print "..." % x            -> print("..." % x)
   * models/models.py:373,379,388  print '...' % x            -> print('...' % x)
   * models/ganimation.py:106-108  .cuda(..., async=True)     -> .cuda(..., non_blocking=True)
     (`async` is a reserved word since Python 3.7; the branch only runs with GPUs)
   * data/dataset_aus.py:37,39     print '...' % x            -> print('...' % x)   (not imported here)

   e.g.  sed -i 's/async=True/non_blocking=True/' models/ganimation.py  and the prints by hand.

2. Run (CPU, produced with torch 2.14.1):

       OMP_NUM_THREADS=1 python make_golden_ganimation.py \
           --authors-repo /path/to/GANimation --out tests/golden [--ckpt128 DIR]

Runtime shims (no source edits): the authors call `.cuda()` unconditionally on
modules and tensors (models/ganimation.py:40,47,74,75,291,298); we run on CPU by
making `nn.Module.cuda` / `Tensor.cuda` no-ops in this process.  The model is built
through the authors' `GANimation` class; to get TINY networks we subclass it and
override only `_create_generator` / `_create_discriminator` (the authors' factory
passes only c_dim, i.e. conv_dim=64, repeat_num=6, image_size=128 for D).

Outputs: ganimation_forward.pt, ganimation_train_step.pt (+ ckpt128/net_epoch_1_id_G.pth ...).
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile

import torch

TINY = dict(image_size=24, g_conv_dim=4, g_repeat_num=2, d_conv_dim=4, d_repeat_num=3, cond_nc=17)

# authors' TrainOptions / BaseOptions defaults (options/train_options.py:10-27, base_options.py:12-28)
TRAIN_DEFAULTS = dict(lr_G=1e-4, G_adam_b1=0.5, G_adam_b2=0.999, lr_D=1e-4, D_adam_b1=0.5, D_adam_b2=0.999,
                      lambda_D_prob=1.0, lambda_D_cond=4000.0, lambda_cyc=10.0, lambda_mask=0.1,
                      lambda_D_gp=10.0, lambda_mask_smooth=1e-5, do_saturate_mask=False,
                      nepochs_no_decay=20, nepochs_decay=10, train_G_every_n_iterations=5, batch_size=4,
                      image_size=128, cond_nc=17)


def sd_copy(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def cpu_only():
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.Tensor.cuda = lambda self, *a, **k: self


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--authors-repo', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--ckpt128', default=None)
    ap.add_argument('--commit', default=None)
    args = ap.parse_args()
    repo = os.path.abspath(args.authors_repo)
    sys.path.insert(0, repo)
    torch.set_num_threads(1)
    cpu_only()
    commit = args.commit
    if commit is None:
        try:
            import subprocess
            commit = subprocess.check_output(['git', '-C', repo, 'rev-parse', 'HEAD'], text=True,
                                             stderr=subprocess.DEVNULL).strip()
        except Exception:
            commit = 'unknown'
    os.makedirs(args.out, exist_ok=True)

    from networks.generator_wasserstein_gan import Generator
    from networks.discriminator_wasserstein_gan import Discriminator
    from models.ganimation import GANimation

    def make_opt(hp, workdir, **over):
        o = dict(TRAIN_DEFAULTS)
        o.update(dict(gpu_ids=[], is_train=True, load_epoch=0, checkpoints_dir=workdir, name='golden',
                      image_size=hp['image_size'], cond_nc=hp['cond_nc']))
        o.update(over)
        return argparse.Namespace(**o)

    def tiny_model_cls(hp):
        class TinyGANimation(GANimation):
            def _create_generator(self):
                return Generator(conv_dim=hp['g_conv_dim'], c_dim=hp['cond_nc'], repeat_num=hp['g_repeat_num'])

            def _create_discriminator(self):
                return Discriminator(image_size=hp['image_size'], conv_dim=hp['d_conv_dim'],
                                     c_dim=hp['cond_nc'], repeat_num=hp['d_repeat_num'])
        return TinyGANimation

    hp = dict(TINY)
    S, C = hp['image_size'], hp['cond_nc']
    work = tempfile.mkdtemp(prefix='golden_ganimation_')
    Model = tiny_model_cls(hp)

    # ------------------------------------------------------------------ forward
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        m = Model(make_opt(hp, work, batch_size=2))
    G, D = m._G, m._D
    g_sd, d_sd = sd_copy(G), sd_copy(D)
    gen = torch.Generator().manual_seed(1234)
    x = torch.rand(2, 3, S, S, generator=gen) * 2 - 1
    # AU targets: AU intensities / 5 as in data/dataset_aus.py:103 (values in [0, 1])
    n_targets = 4
    au_targets = torch.rand(n_targets, 2, C, generator=gen)
    au_targets[0] = 0.0                                   # all-zero (neutral) target
    G.eval()  # GANimation's test path calls set_eval() -> G.eval(); G has no running stats, so same as train
    colors, attns, masked = [], [], []
    with torch.no_grad():
        for c in au_targets:
            col, att = G(x, c)
            colors.append(col.clone())
            attns.append(att.clone())
            masked.append(att * x + (1 - att) * col)      # models/ganimation.py:133 / 228
        d_src, d_au = D(x)
    fwd = dict(model='ganimation', authors_commit=commit, hparams=dict(hp),
               G_state_dict=g_sd, D_state_dict=d_sd, x=x, au_targets=au_targets,
               G_color=torch.stack(colors), G_attention=torch.stack(attns), G_out=torch.stack(masked),
               D_out_src=d_src.clone(), D_out_au=d_au.clone(),
               note='G returns (img_reg = colour map C in [-1,1] via tanh, attetion_reg = A in [0,1] via sigmoid); '
                    'output = A*x + (1-A)*C.  D returns out_real.squeeze(), out_aux.squeeze().')
    torch.save(fwd, os.path.join(args.out, 'ganimation_forward.pt'))

    # --------------------------------------------------------------- train step
    torch.manual_seed(0)
    B = 4
    with contextlib.redirect_stdout(io.StringIO()):
        m = Model(make_opt(hp, work, batch_size=B))
    gen = torch.Generator().manual_seed(4321)
    real_img = torch.rand(B, 3, S, S, generator=gen) * 2 - 1
    real_cond = torch.rand(B, C, generator=gen)
    desired_cond = torch.rand(B, C, generator=gen)
    g0, d0 = sd_copy(m._G), sd_copy(m._D)

    snaps = {'D': [], 'G': []}
    for name, optim in (('D', m._optimizer_D), ('G', m._optimizer_G)):
        orig_step = optim.step

        def step(*a, _orig=orig_step, _name=name, **k):
            r = _orig(*a, **k)
            snaps[_name].append(sd_copy(m._D if _name == 'D' else m._G))
            return r
        optim.step = step

    grabbed = {}
    gp_code = type(m)._gradinet_penalty_D.__code__

    def prof(frame, event, arg):
        if event == 'return' and frame.f_code is gp_code:
            grabbed['alpha'] = frame.f_locals['alpha'].detach().clone()
            grabbed['interpolated'] = frame.f_locals['interpolated'].detach().clone()

    m.set_input({'real_img': real_img, 'real_cond': real_cond, 'desired_cond': desired_cond,
                 'sample_id': None, 'real_img_path': None})
    m.set_train()
    torch.manual_seed(1)   # only draw in the step: torch.rand(B,1,1,1) for the GP alpha
    sys.setprofile(prof)
    try:
        m.optimize_parameters(train_generator=True, keep_data_for_visuals=False)
    finally:
        sys.setprofile(None)
    assert len(snaps['D']) == 2 and len(snaps['G']) == 1

    names = ['_loss_d_real', '_loss_d_cond', '_loss_d_fake', '_loss_d_gp', '_loss_g_masked_fake',
             '_loss_g_masked_cond', '_loss_g_cyc', '_loss_g_mask_1', '_loss_g_mask_2',
             '_loss_g_mask_1_smooth', '_loss_g_mask_2_smooth']
    losses = {n.lstrip('_'): float(getattr(m, n).item()) for n in names}
    o = m._opt
    step = dict(
        model='ganimation', authors_commit=commit, hparams=dict(hp),
        train_config=dict(batch_size=B, lr_G=o.lr_G, lr_D=o.lr_D, G_betas=(o.G_adam_b1, o.G_adam_b2),
                          D_betas=(o.D_adam_b1, o.D_adam_b2), lambda_D_prob=o.lambda_D_prob,
                          lambda_D_cond=o.lambda_D_cond, lambda_cyc=o.lambda_cyc, lambda_mask=o.lambda_mask,
                          lambda_D_gp=o.lambda_D_gp, lambda_mask_smooth=o.lambda_mask_smooth,
                          do_saturate_mask=o.do_saturate_mask, train_generator=True, torch_seed_before_step=1),
        note=('optimize_parameters(): D Adam step #1 on loss_d_real + loss_d_cond + loss_d_fake '
              '(fake from the current G), D Adam step #2 on loss_d_gp alone (computed with D after step #1, '
              'interpolating with the SAME fake images from before step #1), then one G step. '
              'Loss values are already multiplied by their lambdas (as the authors store them). '
              'real_cond / desired_cond are given directly (the dataset would supply AUs/5 and a random '
              "other sample's AUs/5 + U(-0.1,0.1)).  D_state_dict_after_step1 is after the adversarial+AU step."),
        real_img=real_img, real_cond=real_cond, desired_cond=desired_cond,
        alpha=grabbed['alpha'][:, :1, :1, :1].clone(),
        losses=losses,
        loss_D_step1_total=losses['loss_d_real'] + losses['loss_d_cond'] + losses['loss_d_fake'],
        G_state_dict_before=g0, D_state_dict_before=d0,
        D_state_dict_after_step1=snaps['D'][0], D_state_dict_after=snaps['D'][1],
        G_state_dict_after=snaps['G'][0],
    )
    torch.save(step, os.path.join(args.out, 'ganimation_train_step.pt'))
    print('ganimation losses', losses)

    # --------------------------------------------------------------- 128 px ckpt
    if args.ckpt128:
        os.makedirs(args.ckpt128, exist_ok=True)
        torch.manual_seed(0)
        opt = make_opt(dict(image_size=128, cond_nc=17), os.path.dirname(os.path.abspath(args.ckpt128)),
                       name=os.path.basename(os.path.abspath(args.ckpt128)), batch_size=2)
        with contextlib.redirect_stdout(io.StringIO()):
            m = GANimation(opt)          # authors' defaults: G(64, 17, 6), D(128, 64, 17, 6), N(0,0.02) init
            m.save(1)                    # -> net_epoch_1_id_G.pth, net_epoch_1_id_D.pth, opt_epoch_1_id_*.pth
        path = os.path.join(args.ckpt128, 'net_epoch_1_id_G.pth')
        G = Generator(c_dim=17)
        G.load_state_dict(torch.load(path, map_location='cpu'))
        G.eval()
        gen = torch.Generator().manual_seed(128)
        xb = torch.rand(2, 3, 128, 128, generator=gen) * 2 - 1
        aus = torch.rand(4, 2, 17, generator=gen)
        aus[0] = 0
        cols, atts, outs = [], [], []
        with torch.no_grad():
            for c in aus:
                col, att = G(xb, c)
                cols.append(col)
                atts.append(att)
                outs.append(att * xb + (1 - att) * col)
        torch.save(dict(model='ganimation', authors_commit=commit, ckpt='net_epoch_1_id_G.pth',
                        hparams=dict(conv_dim=64, repeat_num=6, c_dim=17, image_size=128),
                        x=xb, au_targets=aus, G_color=torch.stack(cols), G_attention=torch.stack(atts),
                        G_out=torch.stack(outs)),
                   os.path.join(args.ckpt128, 'net_epoch_1_id_G_forward128.pt'))
        for f in os.listdir(args.ckpt128):
            if f.startswith('opt_epoch_1_id_') or f.startswith('opt_train'):
                os.remove(os.path.join(args.ckpt128, f))
        print('wrote', path)


if __name__ == '__main__':
    main()

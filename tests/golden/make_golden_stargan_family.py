"""Golden reference data for StarGAN, US-GAN and SARGAN, produced by RUNNING the
authors' own code (which is NOT part of this repository).

Reproduce
---------
1. Check out the authors' repositories at these commits (file:line references in
   tests/golden/NOTES.md refer to them):

   * yunjey/stargan          94dd002e93a2863d9b987a937b85925b80f7a19f
   * arbishakram/US-GAN      be3fca227f737542bfe3523fddd1b794c2539641
   * arbishakram/SARGAN      44a24ee8ddd748ccecf348cee761138511e0dd7e

   No source edits are needed for these three.  (The US-GAN/SARGAN git trees also
   contain `pre-trained_model/*.ckpt` blobs that may be missing from a snapshot;
   they are not used.)

2. Run (CPU, any torch >= 2.0; produced with torch 2.14.1, numpy 2.4.6):

       OMP_NUM_THREADS=1 python make_golden_stargan_family.py --model stargan \
           --authors-repo /path/to/stargan --out tests/golden
       OMP_NUM_THREADS=1 python make_golden_stargan_family.py --model usgan \
           --authors-repo /path/to/US-GAN  --out tests/golden
       OMP_NUM_THREADS=1 python make_golden_stargan_family.py --model sargan \
           --authors-repo /path/to/SARGAN  --out tests/golden

   add `--ckpt128 DIR` to also write a 128 px random-init checkpoint with the
   authors' own save code (their Solver.train() with lr=0 for one iteration and
   model_save_step=1) plus the authors' forward outputs for a fixed 128 px batch.

Runtime shims (no edits of the authors' files):
* SARGAN `generator.py` does `from utils import *` and `utils.py` imports tensorflow
  (only for a tensorboard logger); a stub `tensorflow.compat.v1` module is put in
  sys.modules (US-GAN imports utils only when use_tensorboard=True; we pass False).
* SARGAN only: the attention hourglass `SEDN` hard-codes c_mid=64 (generator.py:31),
  which would make the tiny golden ~1 MB.  For the TINY goldens we set the default
  argument to 4 via `SEDN.__init__.__defaults__` (recorded as hparams['sedn_c_mid']);
  the 128 px checkpoint keeps the authors' 64.

Outputs: <model>_forward.pt, <model>_train_step.pt (+ ckpt128/...).
Tensors are float32 (labels int64); state dicts keep the authors' key names.
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile
import types

import torch

TINY = dict(image_size=24, g_conv_dim=4, d_conv_dim=4, g_repeat_num=2, d_repeat_num=3, c_dim=7)

# defaults of the authors' argparse (stargan/main.py:57-111; US-GAN|SARGAN/driver.py:14-45)
DEFAULTS = {
    'stargan': dict(c_dim=5, c2_dim=8, image_size=128, g_conv_dim=64, d_conv_dim=64, g_repeat_num=6,
                    d_repeat_num=6, lambda_cls=1.0, lambda_rec=10.0, lambda_gp=10.0, batch_size=16,
                    num_iters=200000, num_iters_decay=100000, g_lr=1e-4, d_lr=1e-4, n_critic=5,
                    beta1=0.5, beta2=0.999, lr_update_step=1000, log_step=10, sample_step=1000,
                    model_save_step=10000),
    'usgan': dict(c_dim=7, image_size=128, g_conv_dim=64, d_conv_dim=64, d_repeat_num=6, lambda_cls=1.0,
                  lambda_rec=1.0, lambda_gp=10.0, batch_size=1, num_iters=200000, num_iters_decay=100000,
                  g_lr=1e-4, d_lr=1e-4, n_critic=5, beta1=0.5, beta2=0.999, lr_update_step=5000,
                  log_step=10, sample_step=100, model_save_step=1000),
}
DEFAULTS['sargan'] = dict(DEFAULTS['usgan'])


def stub_tensorflow():
    if 'tensorflow' in sys.modules:
        return
    import importlib.machinery
    tf = types.ModuleType('tensorflow')
    compat = types.ModuleType('tensorflow.compat')
    v1 = types.ModuleType('tensorflow.compat.v1')
    for m in (tf, compat, v1):   # torch._dynamo calls importlib.util.find_spec('tensorflow')
        m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, None)
    v1.disable_v2_behavior = lambda: None
    tf.compat = compat
    compat.v1 = v1
    sys.modules.update({'tensorflow': tf, 'tensorflow.compat': compat, 'tensorflow.compat.v1': v1})


def sd_copy(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def make_config(model, hp, workdir, **over):
    cfg = dict(DEFAULTS[model])
    cfg.update(hp)
    cfg.update(dict(resume_iters=None, test_iters=None, use_tensorboard=False, num_workers=0,
                    mode='train', dataset='RaFD', selected_attrs=[],
                    log_dir=os.path.join(workdir, 'logs'), model_save_dir=os.path.join(workdir, 'models'),
                    sample_dir=os.path.join(workdir, 'samples'), result_dir=os.path.join(workdir, 'results'),
                    log_step=10 ** 9, sample_step=10 ** 9, model_save_step=10 ** 9, lr_update_step=10 ** 9))
    cfg.update(over)
    for d in ('log_dir', 'model_save_dir', 'sample_dir', 'result_dir'):
        os.makedirs(cfg[d], exist_ok=True)
    return argparse.Namespace(**cfg)


def build_solver(model, Solver, cfg, loader):
    with contextlib.redirect_stdout(io.StringIO()):  # the Solver prints the whole network
        if model == 'stargan':
            return Solver(None, loader, cfg)      # (celeba_loader, rafd_loader, config)
        return Solver(loader, cfg)


def target_list(solver, model, c_org, c_dim):
    if model == 'stargan':
        return solver.create_labels(c_org, c_dim, 'RaFD')
    return solver.create_labels(c_org, c_dim)


def run_train(model, solver):
    """Run the authors' Solver.train() and grab its locals at return (no code edits)."""
    target = type(solver).train.__code__
    grabbed = {}

    def prof(frame, event, arg):
        if event == 'return' and frame.f_code is target:
            grabbed.update(frame.f_locals)

    sys.setprofile(prof)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            solver.train()
    finally:
        sys.setprofile(None)
    return grabbed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True, choices=['stargan', 'usgan', 'sargan'])
    ap.add_argument('--authors-repo', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--ckpt128', default=None)
    ap.add_argument('--commit', default=None, help='authors commit to record (default: git rev-parse)')
    args = ap.parse_args()
    model = args.model
    repo = os.path.abspath(args.authors_repo)
    sys.path.insert(0, repo)
    if model == 'sargan':   # SARGAN generator.py:3 `from utils import *` -> utils.py:1 imports tensorflow
        stub_tensorflow()
    torch.set_num_threads(1)
    commit = args.commit
    if commit is None:
        try:
            import subprocess
            commit = subprocess.check_output(['git', '-C', repo, 'rev-parse', 'HEAD'], text=True,
                                             stderr=subprocess.DEVNULL).strip()
        except Exception:
            commit = 'unknown'
    os.makedirs(args.out, exist_ok=True)

    from solver import Solver  # authors' module
    sedn_c_mid = None
    if model == 'sargan':
        import generator as sargan_generator
        sedn_defaults = sargan_generator.SEDN.__init__.__defaults__   # (c_mid=64, norm_type='in', relu_type='relu')
        sargan_generator.SEDN.__init__.__defaults__ = (4,) + tuple(sedn_defaults[1:])
        sedn_c_mid = 4

    hp = dict(TINY)
    if model != 'stargan':
        hp.pop('g_repeat_num')  # US-GAN/SARGAN Generator(conv_dim, c_dim) has exactly one residual block
    if sedn_c_mid is not None:
        hp['sedn_c_mid'] = sedn_c_mid
    c_dim = hp['c_dim']
    S = hp['image_size']
    work = tempfile.mkdtemp(prefix=f'golden_{model}_')

    # ------------------------------------------------------------------ forward
    torch.manual_seed(0)
    cfg = make_config(model, {k: v for k, v in hp.items() if k != 'sedn_c_mid'}, work)
    solver = build_solver(model, Solver, cfg, loader=None)
    G, D = solver.G, solver.D
    g_sd, d_sd = sd_copy(G), sd_copy(D)
    gen = torch.Generator().manual_seed(1234)
    x = torch.rand(2, 3, S, S, generator=gen) * 2 - 1
    c_org = torch.tensor([0, 3])
    c_trg_list = target_list(solver, model, c_org, c_dim)
    outs = []
    with torch.no_grad():
        # The authors never call G.eval() (not in train() nor test()), so InstanceNorm uses
        # per-instance statistics at test time too: we call G in train mode, like them.
        for c in c_trg_list:
            outs.append(G(x, c).detach().clone())
        src, cls = D(x)
    fwd = dict(
        model=model, authors_commit=commit, hparams=dict(hp), training_mode_forward=True,
        G_state_dict=g_sd, D_state_dict=d_sd, x=x, c_org_labels=c_org,
        c_trg=torch.stack([c.detach().clone() for c in c_trg_list]),   # [c_dim, B, c_dim] one-hot
        G_out=torch.stack(outs),                                         # [c_dim, B, 3, S, S]
        D_out_src=src.detach().clone(), D_out_cls=cls.detach().clone(),
        G_class=f'{type(G).__module__}.{type(G).__name__}', D_class=f'{type(D).__module__}.{type(D).__name__}',
    )
    torch.save(fwd, os.path.join(args.out, f'{model}_forward.pt'))

    # --------------------------------------------------------------- train step
    torch.manual_seed(0)
    B = 4
    gen = torch.Generator().manual_seed(4321)
    x_real = torch.rand(B, 3, S, S, generator=gen) * 2 - 1
    labels = torch.tensor([0, 3, 5, 6])
    batch = (x_real.clone(), labels.clone())
    loader = [batch, batch]  # train() takes the first batch as x_fixed, the second for iteration 1
    cfg = make_config(model, {k: v for k, v in hp.items() if k != 'sedn_c_mid'}, work,
                      n_critic=1, num_iters=1, batch_size=B)
    solver = build_solver(model, Solver, cfg, loader)
    g0, d0 = sd_copy(solver.G), sd_copy(solver.D)
    torch.manual_seed(1)   # the draws inside train(): randperm (target labels) then rand (GP alpha)
    loc = run_train(model, solver)
    loss = {k: float(v) for k, v in loc['loss'].items()}
    step = dict(
        model=model, authors_commit=commit, hparams=dict(hp),
        train_config=dict(n_critic=1, num_iters=1, batch_size=B, g_lr=cfg.g_lr, d_lr=cfg.d_lr,
                          beta1=cfg.beta1, beta2=cfg.beta2, lambda_cls=cfg.lambda_cls,
                          lambda_rec=cfg.lambda_rec, lambda_gp=cfg.lambda_gp,
                          torch_seed_before_train=1),
        note=('n_critic set to 1 so that iteration i=0 includes the G update ((i+1) % n_critic == 0). '
              'G runs 3 forward passes in train mode (D step: G(x_real,c_trg); G step: G(x_real,c_trg), '
              'G(x_fake,c_org)), so InstanceNorm running stats in G_state_dict_after were updated 3 times '
              '(num_batches_tracked=3) although they are never used by the authors.'),
        x_real=x_real, label_org=labels, rand_idx=loc['rand_idx'].clone(), label_trg=loc['label_trg'].clone(),
        c_org=loc['c_org'].clone(), c_trg=loc['c_trg'].clone(), alpha=loc['alpha'].detach().clone(),
        x_fake=loc['x_fake'].detach().clone(), x_reconst=loc['x_reconst'].detach().clone(),
        losses=loss,
        d_loss_total=loc['d_loss'].item(), g_loss_total=loc['g_loss'].item(),
        G_state_dict_before=g0, D_state_dict_before=d0,
        G_state_dict_after=sd_copy(solver.G), D_state_dict_after=sd_copy(solver.D),
    )
    torch.save(step, os.path.join(args.out, f'{model}_train_step.pt'))
    print(model, 'losses', loss)

    # --------------------------------------------------------------- 128 px ckpt
    if args.ckpt128:
        if model == 'sargan':
            sargan_generator.SEDN.__init__.__defaults__ = sedn_defaults   # authors' c_mid=64
        os.makedirs(args.ckpt128, exist_ok=True)
        hp128 = dict(image_size=128, c_dim=7, g_conv_dim=64, d_conv_dim=64, d_repeat_num=6)
        if model == 'stargan':
            hp128['g_repeat_num'] = 6
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(128)
        xb = torch.rand(2, 3, 128, 128, generator=gen) * 2 - 1
        lb = torch.tensor([0, 3])
        cfg = make_config(model, hp128, work, n_critic=1, num_iters=1, batch_size=2, g_lr=0.0, d_lr=0.0,
                          model_save_step=1, model_save_dir=args.ckpt128)
        solver = build_solver(model, Solver, cfg, [(xb, lb), (xb, lb)])
        g_init = sd_copy(solver.G)
        run_train(model, solver)   # lr = 0: weights stay at their random init; saves '1-G.ckpt'/'1-D.ckpt'
        raw = os.path.join(args.ckpt128, '1-G.ckpt')
        if model == 'stargan':
            gname = os.path.join(args.ckpt128, 'stargan_c7_1-G.ckpt')
        else:
            # the authors' test() loads 'usgan_87_G.ckpt' / 'sargan_G.ckpt' (solver.py:285)
            gname = os.path.join(args.ckpt128, {'usgan': 'usgan_87_G.ckpt', 'sargan': 'sargan_G.ckpt'}[model])
        os.replace(raw, gname)
        os.replace(os.path.join(args.ckpt128, '1-D.ckpt'), gname.replace('G.ckpt', 'D.ckpt'))
        sd = torch.load(gname, map_location='cpu')
        torch.manual_seed(0)
        cfg = make_config(model, hp128, work)
        solver = build_solver(model, Solver, cfg, None)
        solver.G.load_state_dict(sd)
        for k in g_init:
            if 'running' not in k and 'num_batches' not in k:
                assert torch.equal(g_init[k], sd[k]), k
        c_list = target_list(solver, model, lb, 7)
        with torch.no_grad():
            o = torch.stack([solver.G(xb, c) for c in c_list])
        torch.save(dict(model=model, authors_commit=commit, ckpt=os.path.basename(gname), hparams=hp128,
                        x=xb, c_trg=torch.stack(c_list), G_out=o, training_mode_forward=True),
                   gname.replace('.ckpt', '_forward128.pt'))
        print('wrote', gname)


if __name__ == '__main__':
    main()

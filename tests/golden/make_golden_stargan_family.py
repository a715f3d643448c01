"""Golden reference data for StarGAN, US-GAN and SARGAN, produced by RUNNING the
authors' own code (which is NOT part of this repository).

Reproduce
---------
1. Check out the authors' repositories at these commits:

   * yunjey/stargan          94dd002e93a2863d9b987a937b85925b80f7a19f
   * arbishakram/US-GAN      be3fca227f737542bfe3523fddd1b794c2539641
   * arbishakram/SARGAN      44a24ee8ddd748ccecf348cee761138511e0dd7e

   No source edits are needed for these three.  (The US-GAN/SARGAN git trees also
   contain `pre-trained_model/*.ckpt` blobs that may be missing from a snapshot;
   they are not used.)

2. Run (CPU, any torch >= 2.0; produced with torch 2.14.1, torchvision 0.29.1, numpy 2.4.6,
   Pillow 13.0.0; US-GAN and SARGAN take about a minute each):

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
  the 128 px checkpoint keeps the authors' 64; the training loop uses 2 (LOOP_SEDN_C_MID).
* Training loop (run_loop): the authors' Solver.train() with their own get_loader() (StarGAN:
  crop size = image size, so that CenterCrop is the identity on the 24 px images; num_workers
  0) and their argparse defaults except sizes, batch 4, num_iters and num_iters_decay =
  num_iters / 2 (their 200k / 100k ratio), under torch.set_default_dtype(torch.float64) (their
  code creates every tensor with the default dtype). Their locals are read at two lines of
  train() with sys.settrace (LoopRecorder); log/sample/save steps set beyond the run.

Outputs: <model>_forward.pt (float32), <model>_train_loop.pt (float64, see run_loop)
(+ ckpt128/...). State dicts keep the authors' key names; the loop stores each network's
parameters as one flat vector with its layout (names, shapes).
"""
import argparse
import contextlib
import inspect
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


# ------------------------------------------------------------------ the training loop
# The authors' Solver.train() on a tiny image folder read by their own get_loader(), run in
# float64 (torch.set_default_dtype) so that the replay can be compared at ~1e-10 instead of
# float32's last digits. num_iters is chosen so that their learning-rate schedule (decay in
# the last num_iters_decay = num_iters / 2 iterations, their default ratio 100k / 200k; a drop
# every lr_update_step, their default) drops once before the end: StarGAN 1000, US-GAN and
# SARGAN 5000. Full records (batch, random draws, losses, weights) are kept for two windows:
# the first iterations (four critic-only ones, then critic + generator) and the iterations
# around the drop; the learning rates of every iteration are kept as their change points.
LOOP_TINY = dict(image_size=24, g_conv_dim=2, d_conv_dim=2, g_repeat_num=1, d_repeat_num=3, c_dim=7)
LOOP_IMAGES = 8        # image folder: 8 random 24 px RGB images, image k in class folder k % 7
LOOP_BATCH = 4
LOOP = {
    'stargan': dict(num_iters=1010, windows=[(0, 5), (999, 1005)]),
    'usgan': dict(num_iters=5010, windows=[(0, 5), (4999, 5005)]),
    'sargan': dict(num_iters=5010, windows=[(0, 5), (4999, 5005)]),
}


LOOP_SEDN_C_MID = 2   # SARGAN: the hourglasses' width for the loop (hard-coded 64; 4 in *_forward.pt)
LOOP_UNUSED = {'sargan': ('att_func.',)}   # built by their Generator, never called: not stored
UNUSED = ()


def named(net):
    """The parameters stored: named_parameters() less the LOOP_UNUSED ones (no gradient ever)."""
    return [(k, v) for k, v in net.named_parameters() if not k.startswith(UNUSED)]


def layout(net):
    """[(name, shape)] of a network's parameters, in named_parameters() order (authors' names)."""
    return [(k, tuple(v.shape)) for k, v in named(net)]


def params_of(net):
    """The parameters as one flat vector in layout() order (one zip entry, not one per tensor)."""
    return torch.cat([v.detach().reshape(-1) for _, v in named(net)]).clone()


def adam_state(optimizer, net):
    """Adam's moments as flat vectors in layout() order (zeros for a parameter without state:
    never given a gradient, listed in missing) and each parameter's step count (GANimation's
    AU head skips the gradient-penalty steps); None before any step."""
    if not optimizer.state:
        return None
    avg, avg_sq, missing, steps = [], [], [], []
    for k, p in named(net):
        state = optimizer.state.get(p)
        if not state:
            missing.append(k)
            state = dict(exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p), step=0.0)
        avg.append(state['exp_avg'].reshape(-1))
        avg_sq.append(state['exp_avg_sq'].reshape(-1))
        steps.append(float(state['step']))
    return dict(exp_avg=torch.cat(avg).clone(), exp_avg_sq=torch.cat(avg_sq).clone(),
                missing=missing, step=steps)


def write_image_folder(root, size):
    from PIL import Image
    gen = torch.Generator().manual_seed(2024)
    pixels = torch.randint(0, 256, (LOOP_IMAGES, size, size, 3), generator=gen, dtype=torch.uint8)
    for k in range(LOOP_IMAGES):
        folder = os.path.join(root, f'class{k % LOOP_TINY["c_dim"]}')
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(pixels[k].numpy()).save(os.path.join(folder, f'{k:02d}.png'))


def authors_loader(model, image_dir, size):
    from data_loader import get_loader  # authors' module
    if model == 'stargan':   # main.py: get_loader(rafd_image_dir, None, None, rafd_crop_size, ...)
        return get_loader(image_dir, None, None, size, size, LOOP_BATCH, 'RaFD', 'train', 0)
    return get_loader(image_dir, size, LOOP_BATCH, 'train', 0)   # driver.py


class LoopRecorder:
    """Reads the locals of the authors' Solver.train() at two of its lines (sys.settrace):
    before the critic's first forward (the batch, target permutation, learning rates, and the
    state at a window's start) and at the logging line after the optimizer steps (GP alpha,
    losses, weights after the iteration). No code of theirs is changed."""

    def __init__(self, solver, windows, dataset_images):
        self.solver = solver
        self.windows = windows
        self.code = type(solver).train.__code__
        lines, first = inspect.getsourcelines(type(solver).train)
        self.before_line = first + next(n for n, l in enumerate(lines) if l.strip() == 'out_src, out_cls = self.D(x_real)')
        self.after_line = first + next(n for n, l in enumerate(lines) if l.strip() == 'if (i+1) % self.log_step == 0:')
        self.candidates = dataset_images   # (n, 3, S, S) as their transform gives them, unflipped
        self.lrs = []
        self.records = {start: dict(start=start, state_before=None, iterations=[]) for start, _ in windows}

    def window(self, i):
        return next((start for start, stop in self.windows if start <= i < stop), None)

    def global_trace(self, frame, event, arg):
        return self.local_trace if frame.f_code is self.code else None

    def local_trace(self, frame, event, arg):
        if event == 'line' and frame.f_lineno in (self.before_line, self.after_line):
            (self.before if frame.f_lineno == self.before_line else self.after)(frame.f_locals)
        return self.local_trace

    def identify(self, x_real):
        index, flip = [], []
        for image in x_real:
            hits = [(k, f) for k in range(len(self.candidates)) for f in (False, True)
                    if torch.equal(image, self.candidates[k].flip(-1) if f else self.candidates[k])]
            assert len(hits) == 1, hits
            index.append(hits[0][0])
            flip.append(hits[0][1])
        return torch.tensor(index), torch.tensor(flip)

    def before(self, local):
        s, i = self.solver, local['i']
        assert len(self.lrs) == i
        self.lrs.append((s.g_optimizer.param_groups[0]['lr'], s.d_optimizer.param_groups[0]['lr']))
        start = self.window(i)
        if start is None:
            return
        record = self.records[start]
        if i == start:
            record['state_before'] = dict(
                G=params_of(s.G), D=params_of(s.D),
                G_adam=adam_state(s.g_optimizer, s.G), D_adam=adam_state(s.d_optimizer, s.D))
        index, flip = self.identify(local['x_real'])
        assert torch.equal(local['label_org'], self.labels[index])
        # one int64 (5, B) tensor: image index, flip, label_org, rand_idx, label_trg
        batch = torch.stack([index, flip.long(), local['label_org'], local['rand_idx'], local['label_trg']])
        record['iterations'].append(dict(i=i, batch=batch, lr=self.lrs[-1]))

    def after(self, local):
        s, i = self.solver, local['i']
        start = self.window(i)
        if start is None:
            return
        it = self.records[start]['iterations'][-1]
        assert it['i'] == i
        it['alpha'] = local['alpha'].detach().reshape(-1).clone()
        it['losses'] = dict(local['loss'])
        it['generator_step'] = (i + 1) % s.n_critic == 0
        # after - state_before, stored in float32: |delta| <= a few lr, so the rounding
        # (2**-24 relative) is ~1e-11 absolute, far below the replay's tolerance
        before = self.records[start]['state_before']
        it['D_delta'] = (params_of(s.D) - before['D']).float()
        it['G_delta'] = (params_of(s.G) - before['G']).float() if it['generator_step'] else None


def lr_changes(lrs):
    """[(iteration, g_lr, d_lr)] wherever the rates differ from the previous iteration's."""
    return [(i, *lr) for i, lr in enumerate(lrs) if i == 0 or lr != lrs[i - 1]]


def run_loop(model, Solver, commit, work, sedn_c_mid):
    global UNUSED
    UNUSED = LOOP_UNUSED.get(model, ())
    from torchvision.datasets import ImageFolder
    import torchvision.transforms as T
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        hp = dict(LOOP_TINY)
        if model != 'stargan':
            hp.pop('g_repeat_num')
        size, spec = hp['image_size'], LOOP[model]
        image_dir = os.path.join(work, 'loop_images')
        write_image_folder(image_dir, size)
        folder = ImageFolder(image_dir)
        images = torch.stack([torch.as_tensor(__import__('numpy').array(folder.loader(p))) for p, _ in folder.samples])
        labels = torch.tensor([c for _, c in folder.samples])
        to_model = T.Compose([T.ToTensor(), T.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))])
        candidates = torch.stack([to_model(folder.loader(p)) for p, _ in folder.samples])

        num_iters = spec['num_iters']
        d = DEFAULTS[model]
        decay = int(num_iters * d['num_iters_decay'] / d['num_iters'])
        cfg = make_config(model, hp, work, num_iters=num_iters, num_iters_decay=decay,
                          batch_size=LOOP_BATCH, lr_update_step=d['lr_update_step'])
        torch.manual_seed(0)
        solver = build_solver(model, Solver, cfg, authors_loader(model, image_dir, size))
        recorder = LoopRecorder(solver, spec['windows'], candidates)
        recorder.labels = labels
        torch.manual_seed(1)
        sys.settrace(recorder.global_trace)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                solver.train()
        finally:
            sys.settrace(None)
        assert len(recorder.lrs) == num_iters
        if sedn_c_mid is not None:
            hp['sedn_c_mid'] = sedn_c_mid
        return dict(
            model=model, authors_commit=commit, hparams=hp, dtype='float64',
            train_config=dict(num_iters=num_iters, num_iters_decay=decay, lr_update_step=cfg.lr_update_step,
                              n_critic=cfg.n_critic, batch_size=LOOP_BATCH, g_lr=cfg.g_lr, d_lr=cfg.d_lr,
                              beta1=cfg.beta1, beta2=cfg.beta2, lambda_cls=cfg.lambda_cls,
                              lambda_rec=cfg.lambda_rec, lambda_gp=cfg.lambda_gp, num_workers=0,
                              torch_seed_before_solver=0, torch_seed_before_train=1),
            layout=dict(G=layout(solver.G), D=layout(solver.D)),
            images=images.permute(0, 3, 1, 2).contiguous(), labels=labels,
            lr_changes=lr_changes(recorder.lrs),
            windows=[recorder.records[start] for start, _ in spec['windows']],
            note=("The authors' Solver.train() (their get_loader: ImageFolder, RandomHorizontalFlip, "
                  'shuffle; num_workers 0) in float64. images: the folder as uint8 RGB (N, 3, S, S); per '
                  'iteration of a window: batch = (image index, flip, label_org, rand_idx, label_trg) '
                  '(torch.randperm draws rand_idx), the GP alpha, the lrs in effect, the losses logged, and the '
                  'parameters after the iteration minus state_before, as float32 (G only after a generator '
                  'step), flat in layout order. '
                  'state_before: '
                  "parameters and Adam moments at the window's start. lr_changes: (iteration, g_lr, "
                  'd_lr) where the rates in effect change.'),
        )
    finally:
        torch.set_default_dtype(dtype)


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

    # ----------------------------------------------------- training loop (float64)
    if model == 'sargan':
        sargan_generator.SEDN.__init__.__defaults__ = (LOOP_SEDN_C_MID,) + tuple(sedn_defaults[1:])
        sedn_c_mid = LOOP_SEDN_C_MID
    loop = run_loop(model, Solver, commit, work, sedn_c_mid)
    torch.save(loop, os.path.join(args.out, f'{model}_train_loop.pt'))
    print(model, 'loop: iterations', loop['train_config']['num_iters'], 'windows',
          [(w['start'], w['start'] + len(w['iterations'])) for w in loop['windows']])

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

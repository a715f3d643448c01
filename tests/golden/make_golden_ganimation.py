"""Golden reference data for GANimation, produced by RUNNING the authors' own code
(albertpumarola/GANimation, NOT part of this repository).

Reproduce
---------
1. Check out albertpumarola/GANimation at commit
   40da9ae1a88e6a3c38cd6548be08a61cbd6695ba and apply these Python-3 syntax fixes
   to YOUR COPY (the code is Python 2 / PyTorch 0.3 era; nothing numerical changes):

   * networks/networks.py:20       print "..." % x            -> print("..." % x)
   * models/models.py:93,99,108    print '...' % x            -> print('...' % x)
   * models/ganimation.py:106-108  .cuda(..., async=True)     -> .cuda(..., non_blocking=True)
     (`async` is a reserved word since Python 3.7; the branch only runs with GPUs)
   * data/dataset_aus.py:37,39     print '...' % x            -> print('...' % x)   (the loop uses it)

   e.g.  sed -i 's/async=True/non_blocking=True/' models/ganimation.py
         and the three files' print statements by hand (wrap the argument in parentheses).

2. Run (CPU, produced with torch 2.14.1, torchvision 0.29.1, numpy 2.4.6, opencv 5.1.0;
   PYTHONHASHSEED fixes the order of their data set's ids, a Python set):

       PYTHONHASHSEED=0 OMP_NUM_THREADS=1 python make_golden_ganimation.py \
           --authors-repo /path/to/GANimation --out tests/golden [--ckpt128 DIR]

Runtime shims (no source edits): the authors call `.cuda()` unconditionally on
modules and tensors (models/ganimation.py:40,47,74,75,291,298); we run on CPU by
making `nn.Module.cuda` / `Tensor.cuda` no-ops in this process.  The model is built
through the authors' `GANimation` class; to get TINY networks we subclass it and
override only `_create_generator` / `_create_discriminator` (the authors' factory
passes only c_dim, i.e. conv_dim=64, repeat_num=6, image_size=128 for D).
Training loop (run_loop): their Train._train() / _train_epoch() (train.py) on the attributes
_train reads (their __init__ parses argv and builds a test loader and tensorboard writer), with
their CustomDatasetDataLoader / AusDataset (n_threads 0) on a tiny data set written here, under
torch.set_default_dtype(torch.float64). Display only, disabled: their first iteration's
visuals (do_visuals also trains G then, and every display_freq_s seconds of wall time) and the
terminal print (Python 2 dict methods). Stubs: `np.str = str` (their _read_ids; removed in
numpy 1.24), a `tensorboardX` module (train.py imports it; never used here).

Outputs: ganimation_forward.pt (float32), ganimation_train_loop.pt (float64, see run_loop)
(+ ckpt128/net_epoch_1_id_G.pth ...).
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


# ------------------------------------------------------------------ the training loop
# The authors' Train._train() / _train_epoch() (train.py) with their AusDataset and data
# loader, in float64 (torch.set_default_dtype), on a tiny dataset of LOOP_IMAGES faces whose
# AUs are fes-bench's expression prototypes (so that a face's AUs are those of its label).
# One epoch is LOOP_IMAGES / batch = 5 iterations, so their per-epoch "train G every 5th batch"
# falls on the same iterations as a global count; 20 + 10 epochs (their defaults) = 150
# iterations, the rate lowered by lr/10 after each of epochs 21..30 (their update_learning_rate).
LOOP_TINY = dict(image_size=16, g_conv_dim=2, g_repeat_num=1, d_conv_dim=2, d_repeat_num=3, cond_nc=17)
LOOP_IMAGES = 20
LOOP_BATCH = 4
LOOP_WINDOWS = [(0, 5), (105, 106)]   # epoch 1 (4 critic-only iterations, then G); epoch 22's first
# fes-bench's prototype AUs per expression class (models/ganimation.py, EXPRESSION_ACTION_UNITS),
# as OpenFace intensities 0-5: the authors divide by 5 (dataset_aus.py _get_cond_by_id)
ACTION_UNITS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
PROTOTYPES = [{}, {6: 3, 12: 3}, {1: 3, 4: 3, 15: 3}, {1: 3, 2: 3, 4: 3, 5: 3, 20: 3, 26: 3},
              {4: 3, 5: 3, 7: 3, 23: 3}, {1: 3, 2: 3, 5: 2, 26: 3}, {9: 3, 15: 3}]


def layout(net):
    return [(k, tuple(v.shape)) for k, v in net.named_parameters()]


def params_of(net):
    return torch.cat([v.detach().reshape(-1) for _, v in net.named_parameters()]).clone()


def adam_state(optimizer, net):
    """Adam's moments as flat vectors in layout() order (zeros for a parameter without state:
    never given a gradient, listed in missing) and each parameter's step count (GANimation's
    AU head skips the gradient-penalty steps); None before any step."""
    if not optimizer.state:
        return None
    avg, avg_sq, missing, steps = [], [], [], []
    for k, p in net.named_parameters():
        state = optimizer.state.get(p)
        if not state:
            missing.append(k)
            state = dict(exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p), step=0.0)
        avg.append(state['exp_avg'].reshape(-1))
        avg_sq.append(state['exp_avg_sq'].reshape(-1))
        steps.append(float(state['step']))
    return dict(exp_avg=torch.cat(avg).clone(), exp_avg_sq=torch.cat(avg_sq).clone(),
                missing=missing, step=steps)


def write_aus_dataset(root, size):
    """imgs/<id>.jpg (random RGB, written by cv2), train_ids.csv / test_ids.csv, aus_openface.pkl."""
    import pickle
    import cv2
    import numpy as np
    os.makedirs(os.path.join(root, 'imgs'), exist_ok=True)
    gen = torch.Generator().manual_seed(2024)
    pixels = torch.randint(0, 256, (LOOP_IMAGES, size, size, 3), generator=gen, dtype=torch.uint8).numpy()
    ids, labels, aus = [], [], {}
    for k in range(LOOP_IMAGES):
        sample_id = f'{k:06d}'
        cv2.imwrite(os.path.join(root, 'imgs', sample_id + '.jpg'), pixels[k][:, :, ::-1])
        label = k % len(PROTOTYPES)
        vector = np.zeros(len(ACTION_UNITS))
        for unit, intensity in PROTOTYPES[label].items():
            vector[ACTION_UNITS.index(unit)] = intensity
        ids.append(sample_id)
        labels.append(label)
        aus[sample_id] = vector
    for name in ('train_ids.csv', 'test_ids.csv'):
        with open(os.path.join(root, name), 'w') as f:
            f.write('\n'.join(i + '.jpg' for i in ids) + '\n')
    with open(os.path.join(root, 'aus_openface.pkl'), 'wb') as f:
        pickle.dump(aus, f)
    return ids, torch.tensor(labels)


def prototype_table():
    table = torch.zeros(len(PROTOTYPES), len(ACTION_UNITS), dtype=torch.float64)
    for row, units in enumerate(PROTOTYPES):
        for unit, intensity in units.items():
            table[row, ACTION_UNITS.index(unit)] = intensity / 5.0
    return table


def run_loop(commit, work, make_opt, tiny_model_cls):
    import math
    import random
    import numpy as np
    import torchvision.transforms as T
    from PIL import Image
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        if not hasattr(np, 'str'):
            np.str = str      # dataset_aus.py _read_ids: np.loadtxt(..., dtype=np.str) (removed in numpy 1.24)
        if 'tensorboardX' not in sys.modules:   # train.py -> utils/tb_visualizer.py (not used here)
            import types
            stub = types.ModuleType('tensorboardX')
            stub.SummaryWriter = None
            sys.modules['tensorboardX'] = stub
        from data.custom_dataset_data_loader import CustomDatasetDataLoader
        from utils import cv_utils
        from train import Train

        hp = dict(LOOP_TINY)
        size = hp['image_size']
        data_dir = os.path.join(work, 'loop_aus')
        ids, labels = write_aus_dataset(data_dir, size)
        images = torch.stack([torch.as_tensor(cv_utils.read_cv2_img(os.path.join(data_dir, 'imgs', i + '.jpg')))
                              for i in ids])   # what their dataset reads: RGB uint8
        to_model = T.Compose([T.ToTensor(), T.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])])
        candidates = torch.stack([to_model(Image.fromarray(im.numpy())) for im in images])
        table = prototype_table()

        opt = make_opt(hp, work, batch_size=LOOP_BATCH, name='golden_loop', data_dir=data_dir,
                       images_folder='imgs', train_ids_file='train_ids.csv', test_ids_file='test_ids.csv',
                       aus_file='aus_openface.pkl', dataset_mode='aus', serial_batches=False,
                       n_threads_train=0, n_threads_test=0, num_iters_validate=1, print_freq_s=60,
                       display_freq_s=300, save_latest_freq_s=3600)
        os.makedirs(os.path.join(work, opt.name), exist_ok=True)   # their model.save() writes here
        with contextlib.redirect_stdout(io.StringIO()):
            loader = CustomDatasetDataLoader(opt, is_for_train=True)
            torch.manual_seed(0)
            model = tiny_model_cls(hp)(opt)
        per_epoch = len(loader) // LOOP_BATCH
        total = per_epoch * (opt.nepochs_no_decay + opt.nepochs_decay)

        class Loop(Train):
            """Their Train with its _train / _train_epoch; __init__ (argv parsing, test loader,
            tensorboard) replaced by the attributes _train reads. Display only: the first
            iteration's visuals (and every display_freq_s seconds: wall-clock dependent) would
            also train G, so _last_display_time starts at +inf; the terminal print is off."""

            def __init__(self):
                self._opt = opt
                self._dataset_train = loader.load_data()
                self._dataset_train_size = len(loader)
                self._model = model

            def _train_epoch(self, i_epoch):
                if self._last_display_time is None:
                    self._last_display_time = math.inf
                return super()._train_epoch(i_epoch)

            def _display_terminal(self, *args, **kwargs):
                pass

        records = {start: dict(start=start, state_before=None, iterations=[]) for start, _ in LOOP_WINDOWS}
        lrs, pending = [], {}
        set_input, optimize = model.set_input, model.optimize_parameters
        gp_code = type(model)._gradinet_penalty_D.__code__

        def window(i):
            return next((start for start, stop in LOOP_WINDOWS if start <= i < stop), None)

        def recording_set_input(batch):
            pending['batch'] = batch
            return set_input(batch)

        def recording_optimize(train_generator=True, keep_data_for_visuals=False):
            i = len(lrs)
            lrs.append((model._optimizer_G.param_groups[0]['lr'], model._optimizer_D.param_groups[0]['lr']))
            assert train_generator == (((i % per_epoch) + 1) % opt.train_G_every_n_iterations == 0), (i, train_generator)
            start = window(i)
            if start is None:
                return optimize(train_generator=train_generator, keep_data_for_visuals=keep_data_for_visuals)
            record = records[start]
            if i == start:
                record['state_before'] = dict(
                    G=params_of(model._G), D=params_of(model._D),
                    G_adam=adam_state(model._optimizer_G, model._G),
                    D_adam=adam_state(model._optimizer_D, model._D))
            batch = pending['batch']
            index = torch.tensor([ids.index(s) for s in batch['sample_id']])
            flip = []
            for image, k in zip(batch['real_img'], index):
                hit = [f for f in (False, True) if torch.equal(image, candidates[k].flip(-1) if f else candidates[k])]
                assert len(hit) == 1
                flip.append(hit[0])
            assert torch.equal(batch['real_cond'], table[labels[index]])
            desired = batch['desired_cond']
            target = (desired[:, None, :] - table[None]).abs().amax(-1).argmin(-1)   # |jitter| < 0.1
            jitter = desired - table[target]
            assert jitter.abs().max() <= 0.1
            grabbed = {}

            def prof(frame, event, arg):
                if event == 'return' and frame.f_code is gp_code:
                    grabbed['alpha'] = frame.f_locals['alpha'][:, 0, 0, 0].detach().clone()

            sys.setprofile(prof)
            try:
                optimize(train_generator=train_generator, keep_data_for_visuals=keep_data_for_visuals)
            finally:
                sys.setprofile(None)
            before = record['state_before']
            record['iterations'].append(dict(
                i=i, lr=lrs[-1], generator_step=train_generator,
                # one int64 (3, B) tensor: image index, flip, the desired AUs' prototype class
                batch=torch.stack([index, torch.tensor(flip).long(), target]),
                jitter=jitter.clone(), alpha=grabbed['alpha'],
                losses={n.lstrip('_'): float(getattr(model, n).item()) for n in LOSS_NAMES},
                D_delta=(params_of(model._D) - before['D']).float(),
                G_delta=(params_of(model._G) - before['G']).float() if train_generator else None))

        model.set_input = recording_set_input
        model.optimize_parameters = recording_optimize
        random.seed(0)       # dataset_aus.py: random sample index, the desired AUs' sample
        np.random.seed(0)    # dataset_aus.py: the AU jitter U(-0.1, 0.1)
        torch.manual_seed(1)  # flips, the loader's shuffle, the GP alpha
        with contextlib.redirect_stdout(io.StringIO()):
            Loop()._train()
        assert len(lrs) == total, (len(lrs), total)
        changes = [(i, *lr) for i, lr in enumerate(lrs) if i == 0 or lr != lrs[i - 1]]
        return dict(
            model='ganimation', authors_commit=commit, hparams=hp, dtype='float64',
            train_config=dict(batch_size=LOOP_BATCH, dataset_size=len(loader), iterations_per_epoch=per_epoch,
                              num_iters=total, nepochs_no_decay=opt.nepochs_no_decay,
                              nepochs_decay=opt.nepochs_decay,
                              train_G_every_n_iterations=opt.train_G_every_n_iterations,
                              lr_G=opt.lr_G, lr_D=opt.lr_D, lambda_D_cond=opt.lambda_D_cond,
                              lambda_cyc=opt.lambda_cyc, lambda_mask=opt.lambda_mask,
                              lambda_D_gp=opt.lambda_D_gp, lambda_mask_smooth=opt.lambda_mask_smooth,
                              desired_cond_jitter=0.1,  # dataset_aus.py: np.random.uniform(-0.1, 0.1)
                              n_threads_train=0, seeds=dict(torch_model=0, random=0, numpy=0, torch_train=1)),
            layout=dict(G=layout(model._G), D=layout(model._D)),
            images=images.permute(0, 3, 1, 2).contiguous(), labels=labels,
            lr_changes=changes,
            windows=[records[start] for start, _ in LOOP_WINDOWS],
            note=("The authors' Train._train() with their AusDataset (random sample per index, desired AUs "
                  'of a random sample + U(-0.1, 0.1), RandomHorizontalFlip; n_threads 0) in float64. '
                  "Faces' AUs = their label's prototype x 5 (the authors divide by 5). Per iteration of "
                  'a window: batch = (image index, flip, class of the desired AUs) and jitter = desired AUs '
                  "minus that class's prototype; the GP alpha; the rates in effect; the losses (weighted, "
                  'as they log them); the parameters after minus state_before as float32 (G only after a '
                  'generator step), flat in layout order. lr_changes: (iteration, lr_G, lr_D) where the '
                  'rates change.'),
        )
    finally:
        torch.set_default_dtype(dtype)


LOSS_NAMES = ['_loss_d_real', '_loss_d_cond', '_loss_d_fake', '_loss_d_gp', '_loss_g_masked_fake',
              '_loss_g_masked_cond', '_loss_g_cyc', '_loss_g_mask_1', '_loss_g_mask_2',
              '_loss_g_mask_1_smooth', '_loss_g_mask_2_smooth']


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

    # ----------------------------------------------------- training loop (float64)
    loop = run_loop(commit, work, make_opt, tiny_model_cls)
    torch.save(loop, os.path.join(args.out, 'ganimation_train_loop.pt'))
    print('ganimation loop: iterations', loop['train_config']['num_iters'], 'windows', LOOP_WINDOWS)

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

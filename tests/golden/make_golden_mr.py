"""Golden reference data for Masked Regression (MR; arbishakram/masked_regression_code),
produced by RUNNING the authors' own solver (NOT part of this repository).

Reproduce
---------
1. Check out arbishakram/masked_regression_code at commit
   de9dac5df38e5709f6a2c913cb04b1882e009cff.  No source edits are needed
   (numpy 2.4.6, scipy 1.17.1, opencv 5.0.0 were used).
2. Run:

       OMP_NUM_THREADS=1 python make_golden_mr.py --authors-repo /path/to/masked_regression_code \
           --out tests/golden

What it does: writes a tiny fixed data set (6x6 px, 5 train pairs, 2 test pairs, PNG,
names `<x>_<num>.png` as f_load_data.py:56 expects) into a temp dir, runs the authors'
`mr_solver.train()` and `mr_solver.test()` (mode 'test' and 'test_inthewild') for
input_ch=1 (README setting: cv2.imread(path, 0) grayscale) and input_ch=3 (cv2 BGR
channels), and stores: raw uint8 images, the authors' normalised inputs
(imagesA/imagesB as loaded by load_data), the learnt weight matrices W (dense, one per
channel), the raw predictions W @ [x; 1] and the PNGs the authors write
(cv2.normalize NORM_MINMAX to 0..255 uint8).
"""
import argparse
import glob
import os
import sys
import tempfile

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--authors-repo', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--commit', default=None)
    args = ap.parse_args()
    repo = os.path.abspath(args.authors_repo)
    sys.path.insert(0, repo)
    import cv2
    from scipy import sparse
    from solver import mr_solver          # authors' module
    from f_load_data import load_x_t       # authors' helper (builds [x; 1])

    size, n_train, n_test = 6, 5, 2
    rng = np.random.RandomState(0)
    commit = args.commit
    if commit is None:
        try:
            import subprocess
            commit = subprocess.check_output(['git', '-C', repo, 'rev-parse', 'HEAD'], text=True,
                                             stderr=subprocess.DEVNULL).strip()
        except Exception:
            commit = 'unknown'
    golden = dict(model='mr', authors_commit=commit, image_size=size,
                  receptive_field=3, lamda=0.4, n_train=n_train, n_test=n_test, by_channels={})
    for ch in (1, 3):
        root = tempfile.mkdtemp(prefix=f'golden_mr_ch{ch}_')
        raw = {}
        for split, n in (('train', n_train), ('test', n_test)):
            for side in ('A', 'B'):
                d = os.path.join(root, f'{split}{side}')
                os.makedirs(d)
                imgs = rng.randint(10, 240, size=(n, size, size, 3)).astype(np.uint8)
                raw[f'{split}{side}'] = imgs
                for i in range(n):
                    cv2.imwrite(os.path.join(d, f'img_{i + 1}.png'), imgs[i])
        wild = os.path.join(root, 'inthewild')
        os.makedirs(wild)
        for i in range(n_test):
            cv2.imwrite(os.path.join(wild, f'wild_{i + 1}.png'), raw['testA'][i])
        wdir, tdir, idir = (os.path.join(root, x) + '/' for x in ('weights', 'test_results', 'wild_results'))
        for d in (wdir, tdir, idir):
            os.makedirs(d)

        def ns(mode, n):
            return argparse.Namespace(train_dataset_dir=root + '/', test_dataset_dir=root + '/',
                                      inthewild_dataset_dir=wild + '/', image_size=size, total_images=n,
                                      input_ch=ch, receptive_field=3, lamda=0.4, mode=mode,
                                      weights_dir=wdir, test_results_dir=tdir, inthewild_results_dir=idir)

        a = ns('train', n_train)
        s = mr_solver(a)
        s.train(a)
        train_A, train_B = s.imagesA.copy(), s.imagesB.copy()
        W = [np.asarray(sparse.load_npz(wdir + f'mr_weights_dec-10-2019_{c + 1}.npz').todense())
             for c in range(ch)]

        a = ns('test', n_test)
        s = mr_solver(a)
        s.test(a)
        test_A, test_B = s.imagesA.copy(), s.imagesB.copy()
        pred = np.zeros((n_test, ch, size * size))
        for p in range(n_test):
            for c in range(ch):
                x, t = load_x_t(s, p, c, test_A, test_B)
                pred[p, c] = W[c] @ x
        out_png = {}
        for p in range(n_test):
            name = s.names[p]
            img = cv2.imread(os.path.join(tdir, f'{name}_test.png'), cv2.IMREAD_UNCHANGED)
            out_png[name] = img
        names_test = list(s.names)

        a = ns('test_inthewild', n_test)
        s = mr_solver(a)
        s.test(a)
        wild_png = {n: cv2.imread(os.path.join(idir, f'{n}_test_inthewild.png'), cv2.IMREAD_UNCHANGED)
                    for n in s.names}
        t = lambda v: torch.from_numpy(np.ascontiguousarray(v))
        golden['by_channels'][ch] = dict(
            raw_uint8_bgr={k: t(v) for k, v in raw.items()},               # as written to disk (BGR for cv2)
            train_imagesA=t(train_A).float(), train_imagesB=t(train_B).float(),   # authors' normalised inputs
            test_imagesA=t(test_A).float(), test_imagesB=t(test_B).float(),
            W=[t(w).float() for w in W],                                     # [size*size, size*size+1] per channel
            pred_raw=t(pred).float(),                                        # W @ [x; 1] before normalisation
            test_names=names_test,
            test_png={k: t(v) for k, v in out_png.items()},                  # [x_or_t | y | t] uint8 (see NOTES)
            inthewild_names=list(s.names),
            inthewild_png={k: t(v) for k, v in wild_png.items()},           # y only, uint8
        )
    torch.save(golden, os.path.join(args.out, 'mr_golden.pt'))
    print('ok')


if __name__ == '__main__':
    main()

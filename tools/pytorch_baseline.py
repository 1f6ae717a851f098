#!/usr/bin/python3
"""Trains mnist-cl's built-in models in PyTorch on the CPU, as a reference for speed and accuracy.

Usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/pytorch_baseline.py --model mlp50 [--json]
       OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/pytorch_baseline.py --model cnn --epochs 1 \
           --limit 2000 [--no-augment]

Needs Debian's python3-torch (`tools/setup --with-pytorch`); hence /usr/bin/python3 rather than
whatever python3 is first on PATH. The models and training follow Keras defaults so the numbers
compare with mnist-cl and with the Keras originals:
  - Dense and Conv2D layers: Glorot-uniform weights (fans in/out include the kernel area),
    zero bias; Conv2D with 'valid' padding and stride 1, MaxPooling2D with stride = pool size;
  - BatchNormalization: gamma 1, beta 0, Keras momentum 0.99 (PyTorch momentum 0.01), eps 1e-3,
    batch statistics in training and the moving ones in evaluation. (PyTorch updates the moving
    variance with the unbiased batch variance, Keras with the biased one: a factor m/(m-1),
    m = batch x height x width values per channel, i.e. 1.6% for the dense BatchNorm at batch 64
    and < 0.05% for the convolutions; it does not affect training, only the moving statistics.)
  - Adam, lr 1e-3 (fast: 3e-3), beta1 0.9, beta2 0.999, eps 1e-7. (Keras adds eps to sqrt(v) before bias
    correction and PyTorch after it; with eps this small the difference is negligible.)
  - sparse categorical cross-entropy on the logits (Keras' softmax + CE, fused);
  - inputs are pixels / 255, flattened to 784 for the MLPs, 1x28x28 (NCHW) for the CNN. The flatten
    before the CNN's first dense layer is in NCHW order (mnist-cl: NHWC), a mere permutation of
    that layer's rows, which changes nothing about the training;
  - a model whose recipe says lr_schedule=cosine (dnn, cnn) decays the learning rate per step
    as Keras's CosineDecay to 0 over every step of the run: lr_k = lr 0.5 (1 + cos(pi k / steps));
  - the CNN's augmentation (mnist-cl's, Keras ImageDataGenerator with zero fill) is done on the
    CPU per batch with affine_grid + grid_sample (bilinear, zeros padding, align_corners=True so
    that the transform is about the pixel-centre middle (size-1)/2, as mnist-cl's): each image
    gets its own random rotation in +-8 degrees, row and column shifts in +-0.08 x 28 pixels,
    shear in +-0.3 degrees and per-axis zoom in 1 +- 0.08, composed as R @ Shift @ Shear @ Zoom
    as Keras's apply_affine_transform. (Drawn from torch's generator, not mnist-cl's Philox, so
    the individual transforms differ; their distribution is the same.) --no-augment turns it off;
  - the last partial batch of an epoch is used, data are shuffled every epoch;
  - a validation split takes the *last* fraction of the training set, before any shuffling;
  - the per-epoch loss and accuracy are running means over the epoch's batches in training mode
    (dropout on), as Keras reports them.

Epoch time covers the shuffle, the augmentation (part of the workload, as in mnist-cl, where it
runs on the device inside the epoch) and all training steps; evaluation (validation, test) is
timed separately. --limit N trains on the first N training images only (before any validation
split, as mnist-cl's --limit; the test set stays whole), for quick checks.

Training FLOPs per image count only the GEMM-class work, exactly as mnist-cl does (so that
tools/compare-pytorch can check both sides train the same workload): a multiply-add is 2 FLOPs; the forward
of a dense layer is 2 in out, of a convolution 2 K F OH OW (K = kh kw Cin, F filters, OH x OW
output); the backward is twice the forward (input and weight gradients), once for the first
layer, which needs no input gradient; biases, BatchNorm, ReLU, pooling, dropout, the loss and the
augmentation count 0. For the CNN that is 20,470,016 forward and 61,020,672 training FLOPs.

With --json the progress lines go to stderr and stdout holds only one JSON object.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    sys.exit('pytorch_baseline: numpy or torch not found; install python3-torch '
             '(tools/setup --with-pytorch) and run with /usr/bin/python3')

# name -> (layers, default batch size, default epochs, validation split), as mnist-cl's built-ins
# (`mnist-cl models --source`). A layer is ('dense', out) followed by ReLU unless it is the last
# dense layer or the next layer is 'batchnorm' (then a 'relu' layer follows explicitly),
# ('dropout', rate), ('conv', filters, kernel size), ('batchnorm',), ('relu',), ('maxpool', size)
# or ('flatten',); a model with a 'conv' layer takes 1x28x28 images, the others 784 pixels.
# COSINE lists the models whose recipe decays the learning rate, AUGMENT those whose recipe
# augments, with its ranges (rotation and shear in degrees, shift and zoom as fractions).
MODELS = {
    'mlp': ([('dense', 256), ('dropout', 0.2), ('dense', 128), ('dense', 10)], 128, 10, 0.0),
    'mlp50': ([('dense', 50), ('dense', 50), ('dense', 10)], 100, 5, 0.1),
    'mlp128': ([('dense', 128), ('dense', 32), ('dense', 10)], 128, 10, 0.0),
    'dnn': ([('dropout', 0.2), ('dense', 1024), ('dropout', 0.5), ('dense', 1024),
             ('dropout', 0.5), ('dense', 10)], 128, 20, 0.0),
    'cnn': ([('conv', 32, 3), ('batchnorm',), ('relu',),
             ('conv', 32, 3), ('batchnorm',), ('relu',), ('maxpool', 2),
             ('conv', 64, 3), ('batchnorm',), ('relu',),
             ('conv', 64, 3), ('batchnorm',), ('relu',), ('maxpool', 2),
             ('flatten',), ('dense', 512), ('batchnorm',), ('relu',), ('dropout', 0.2),
             ('dense', 10)], 64, 5, 0.0),
    'fast': ([('conv', 32, 3), ('batchnorm',), ('relu',), ('maxpool', 2),
              ('conv', 64, 3), ('batchnorm',), ('relu',), ('maxpool', 2),
              ('flatten',), ('dense', 128), ('batchnorm',), ('relu',), ('dense', 10)], 64, 1, 0.0),
}
MODELS['best'] = (MODELS['cnn'][0], 64, 15, 0.0)
COSINE = {'dnn', 'cnn', 'fast', 'best'}
AUGMENT = {name: {'rotation': 8.0, 'shift': 0.08, 'shear': 0.3, 'zoom': 0.08}
           for name in ('cnn', 'best')}
# The recipes' Adam learning rates (1e-3 unless listed).
LEARNING_RATE = {'fast': 3e-3}
ROWS = COLS = 28
INPUTS = ROWS * COLS
# Keras BatchNormalization defaults: moving = 0.99 moving + 0.01 batch, i.e. PyTorch momentum 0.01.
BN_MOMENTUM, BN_EPS = 0.01, 1e-3
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
              0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}


def read_idx(data_dir, name):
    """Reads DIR/name or DIR/name.gz into an array of the shape in its header."""
    path = os.path.join(data_dir, name)
    if not os.path.exists(path) and os.path.exists(path + '.gz'):
        path += '.gz'
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        sys.exit('pytorch_baseline: cannot read %s: %s (run tools/fetch-mnist)' % (path, e))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        sys.exit('pytorch_baseline: %s is not an IDX file' % path)
    ndim = raw[3]
    dims = struct.unpack('>%dI' % ndim, raw[4:4 + 4 * ndim])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    count = int(np.prod(dims))
    body = raw[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        sys.exit('pytorch_baseline: %s: header says %s, file has %d bytes of data'
                 % (path, dims, len(body)))
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(data_dir, prefix + '-images-idx3-ubyte')
    labels = read_idx(data_dir, prefix + '-labels-idx1-ubyte')
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        sys.exit('pytorch_baseline: %s: %s images vs %s labels'
                 % (prefix, images.shape, labels.shape))
    x = torch.from_numpy(images.reshape(len(images), INPUTS).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def is_conv_model(layers):
    return any(layer[0] == 'conv' for layer in layers)


def build_model(layers):
    """Returns (nn.Sequential, list of the forward FLOPs per image of its GEMM-class layers, in
    order), with the same shapes, initialisation and BatchNorm settings as mnist-cl's model."""
    modules, gemm_flops = [], []
    # The shape of one image as it flows: (channels, height, width), or (features,) once flat.
    shape = (1, ROWS, COLS) if is_conv_model(layers) else (INPUTS,)
    last_dense = max(i for i, layer in enumerate(layers) if layer[0] == 'dense')
    for i, layer in enumerate(layers):
        kind = layer[0]
        if kind == 'dropout':
            modules.append(nn.Dropout(layer[1]))
        elif kind == 'relu':
            modules.append(nn.ReLU())
        elif kind == 'flatten':
            modules.append(nn.Flatten())
            shape = (int(np.prod(shape)),)
        elif kind == 'maxpool':
            size = layer[1]
            modules.append(nn.MaxPool2d(size))  # 'valid': a partial window at the edge is dropped
            shape = (shape[0], shape[1] // size, shape[2] // size)
        elif kind == 'batchnorm':
            bn = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(
                shape[0], eps=BN_EPS, momentum=BN_MOMENTUM)
            modules.append(bn)  # gamma 1, beta 0, moving mean 0, moving variance 1 (as Keras)
        elif kind == 'conv':
            filters, k = layer[1], layer[2]
            conv = nn.Conv2d(shape[0], filters, k)  # stride 1, no padding ('valid')
            nn.init.xavier_uniform_(conv.weight)  # fans Cin*k*k and F*k*k, as Keras
            nn.init.zeros_(conv.bias)
            modules.append(conv)
            oh, ow = shape[1] - k + 1, shape[2] - k + 1
            # im2col GEMM: [OH*OW, K] x [K, F] per image, K = k*k*Cin.
            gemm_flops.append(2 * (k * k * shape[0]) * filters * oh * ow)
            shape = (filters, oh, ow)
        elif kind == 'dense':
            out = layer[1]
            if len(shape) != 1:
                sys.exit('pytorch_baseline: a dense layer needs a flatten before it')
            linear = nn.Linear(shape[0], out)
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
            modules.append(linear)
            gemm_flops.append(2 * shape[0] * out)
            shape = (out,)
            nxt = layers[i + 1][0] if i + 1 < len(layers) else None
            if i != last_dense and nxt not in ('batchnorm', 'relu'):
                modules.append(nn.ReLU())
        else:
            raise ValueError('unknown layer kind %r' % kind)
    return nn.Sequential(*modules), gemm_flops


def train_flops_per_sample(gemm_flops):
    """Training FLOPs per image, counted as mnist-cl counts them (graph.c, dense.c, conv2d.c):
    for each GEMM-class layer with forward f (2*in*out for a dense layer, 2*K*F*OH*OW for a
    convolution, K = kh*kw*Cin), forward f plus backward 2f (input gradient and weight
    gradient), except the first layer, whose backward is f (no input gradient: nothing
    trainable comes before it); everything else (bias, BatchNorm, ReLU, pooling, dropout,
    loss, augmentation) counts 0. So: 3 * sum(f) - f[0]."""
    return 3 * sum(gemm_flops) - gemm_flops[0]


def augment_batch(xb, ranges, gen):
    """Returns the images xb ([B, 784] or [B, 1, 28, 28]) each through its own random affine
    transform, as mnist-cl's augment.c: output pixel (row, col) samples the input at
    M @ ((row, col) - c) + c + t with c the pixel-centre middle ((rows-1)/2, (cols-1)/2),
    M = R(theta) @ Shear(s) @ Zoom(zx, zy), t = R(theta) @ (tx, ty), bilinear with zero fill."""
    n = xb.shape[0]
    u = torch.rand(n, 6, generator=gen) * 2.0 - 1.0  # uniform in [-1, 1)
    theta = u[:, 0] * math.radians(ranges['rotation'])
    tx = u[:, 1] * (ranges['shift'] * ROWS)  # rows (Keras height_shift_range)
    ty = u[:, 2] * (ranges['shift'] * COLS)  # columns (width_shift_range)
    shear = u[:, 3] * math.radians(ranges['shear'])
    zx = 1.0 + u[:, 4] * ranges['zoom']
    zy = 1.0 + u[:, 5] * ranges['zoom']
    c, s = torch.cos(theta), torch.sin(theta)
    csh, ssh = torch.cos(shear), torch.sin(shear)
    # In (row, col) pixel coordinates, as augment.c: R = [[c, -s], [s, c]],
    # Shear = [[1, -sin s], [0, cos s]], Zoom = diag(zx, zy).
    m00, m01 = c * zx, -c * ssh * zy - s * csh * zy
    m10, m11 = s * zx, -s * ssh * zy + c * csh * zy
    tr, tc = c * tx - s * ty, s * tx + c * ty
    # affine_grid works in normalised (x = col, y = row) coordinates; with align_corners=True,
    # -1 and 1 are the centres of the first and last pixels, so 0 is the pixel-centre middle and
    # a pixel offset d from it is d / h with h = (size-1)/2.
    hr, hc = 0.5 * (ROWS - 1), 0.5 * (COLS - 1)
    affine = torch.stack([
        torch.stack([m11, m10 * (hr / hc), tc / hc], 1),
        torch.stack([m01 * (hc / hr), m00, tr / hr], 1),
    ], 1)
    images = xb.reshape(n, 1, ROWS, COLS)
    grid = F.affine_grid(affine, (n, 1, ROWS, COLS), align_corners=True)
    out = F.grid_sample(images, grid, mode='bilinear', padding_mode='zeros', align_corners=True)
    return out.reshape(xb.shape)


def warn_if_reference_blas():
    """Debian's torch calls whatever libblas.so.3 the alternatives system points at; the netlib
    reference BLAS (python3-torch only recommends OpenBLAS) is several times slower."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # makes sure the BLAS is loaded
    try:
        with open('/proc/self/maps', encoding='utf-8') as f:
            maps = f.read()
    except OSError:
        return
    if '/blas/libblas.so' in maps:
        print('pytorch_baseline: warning: torch is using the reference BLAS; install '
              'libopenblas0 (tools/setup --with-pytorch) for meaningful timings', file=sys.stderr)


def evaluate(model, loss_fn, x, y, batch_size):
    """Returns (mean loss, accuracy, seconds) over (x, y) in inference mode."""
    model.eval()
    start = time.perf_counter()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for lo in range(0, len(x), batch_size):
            logits = model(x[lo:lo + batch_size])
            target = y[lo:lo + batch_size]
            loss_sum += loss_fn(logits, target).item() * len(target)
            correct += (logits.argmax(1) == target).sum().item()
    seconds = time.perf_counter() - start
    return loss_sum / len(x), correct / len(x), seconds


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default=os.path.join(root, 'data', 'mnist'),
                    help='directory of the IDX files, raw or .gz (default: data/mnist)')
    ap.add_argument('--model', choices=sorted(MODELS), default='mlp')
    ap.add_argument('--epochs', type=int,
                    help='default: the model\'s (mlp 10, mlp50 5, cnn 5, ...)')
    ap.add_argument('--batch-size', type=int,
                    help='default: the model\'s (cnn 64, else 100 or 128)')
    ap.add_argument('--limit', type=int, metavar='N',
                    help='train on the first N training images only (before the validation '
                    'split, as mnist-cl --limit)')
    ap.add_argument('--no-augment', action='store_true',
                    help='turn off the augmentation a model\'s recipe turns on (cnn)')
    ap.add_argument('--threads', type=int, default=2, help='torch intra-op threads (default 2)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--json', action='store_true',
                    help='print a JSON summary on stdout (progress goes to stderr)')
    args = ap.parse_args()

    layers, batch_size, epochs, val_split = MODELS[args.model]
    batch_size = args.batch_size or batch_size
    epochs = args.epochs or epochs
    if batch_size < 1 or epochs < 1 or args.threads < 1 or (
            args.limit is not None and args.limit < 1):
        ap.error('--batch-size, --epochs, --threads and --limit must be positive')
    augment = None if args.no_augment else AUGMENT.get(args.model)
    log = sys.stderr if args.json else sys.stdout

    # OpenBLAS starts its own threads on top of torch's; with both, 2 cores are oversubscribed
    # and the timings mean little.
    if os.environ.get('OPENBLAS_NUM_THREADS') != '1':
        print('pytorch_baseline: warning: OPENBLAS_NUM_THREADS is not 1; BLAS threads may '
              'compete with torch threads', file=sys.stderr)
    torch.set_num_threads(args.threads)
    warn_if_reference_blas()
    torch.manual_seed(args.seed)
    shuffle_gen = torch.Generator().manual_seed(args.seed)
    augment_gen = torch.Generator().manual_seed(args.seed + 1)

    x_train, y_train = load_split(args.data, 'train')
    x_test, y_test = load_split(args.data, 't10k')
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    if is_conv_model(layers):
        x_train = x_train.reshape(-1, 1, ROWS, COLS)
        x_test = x_test.reshape(-1, 1, ROWS, COLS)
    x_val = y_val = None
    if val_split > 0:
        n_fit = int(len(x_train) * (1.0 - val_split))
        x_train, x_val = x_train[:n_fit], x_train[n_fit:]
        y_train, y_val = y_train[:n_fit], y_train[n_fit:]

    model, gemm_flops = build_model(layers)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE.get(args.model, 1e-3),
                           betas=(0.9, 0.999), eps=1e-7)
    n = len(x_train)
    # Keras CosineDecay to zero over every step of the run, as mnist-cl's lr_schedule=cosine.
    total_steps = epochs * ((n + batch_size - 1) // batch_size)
    sched = None
    if args.model in COSINE:
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k, total_steps) / total_steps)))

    epoch_seconds, eval_seconds, history = [], [], []
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(n, generator=shuffle_gen)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for lo in range(0, n, batch_size):
            idx = order[lo:lo + batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if augment is not None:
                xb = augment_batch(xb, augment, augment_gen)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            # Accumulated as tensors so the loop does not synchronise on .item() every step.
            with torch.no_grad():
                loss_sum += loss.detach() * len(yb)
                correct += (logits.argmax(1) == yb).sum()
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        entry = {'loss': loss_sum.item() / n, 'accuracy': correct.item() / n}
        line = 'Epoch %d/%d - %.2fs - loss: %.4f - accuracy: %.4f' % (
            epoch, epochs, seconds, entry['loss'], entry['accuracy'])
        if x_val is not None:
            entry['val_loss'], entry['val_accuracy'], ev = evaluate(
                model, loss_fn, x_val, y_val, batch_size)
            eval_seconds.append(ev)
            line += ' - val_loss: %.4f - val_accuracy: %.4f - eval: %.2fs' % (
                entry['val_loss'], entry['val_accuracy'], ev)
        history.append(entry)
        print(line, file=log, flush=True)

    test_loss, test_acc, test_s = evaluate(model, loss_fn, x_test, y_test, batch_size)
    print('Test loss: %.4f - test accuracy: %.4f - eval: %.2fs' % (test_loss, test_acc, test_s),
          file=log, flush=True)

    flops = train_flops_per_sample(gemm_flops)
    mean_s = sum(epoch_seconds) / len(epoch_seconds)
    gflops = flops * n / mean_s / 1e9
    print('Mean epoch: %.3fs, %.2f GFLOP/s (%d train FLOPs/sample, %d forward, %d samples/epoch, '
          '%d threads%s)' % (mean_s, gflops, flops, sum(gemm_flops), n, args.threads,
                             ', augmented' if augment else ''), file=log, flush=True)
    if args.json:
        print(json.dumps({
            'model': args.model,
            'epochs': epochs,
            'batch_size': batch_size,
            'seconds_per_epoch': [round(s, 6) for s in epoch_seconds],
            'mean_epoch_s': round(mean_s, 6),
            'test_accuracy': test_acc,
            'test_loss': test_loss,
            'train_flops_per_sample': flops,
            'forward_flops_per_sample': sum(gemm_flops),
            'gflops': round(gflops, 4),
            'augment': augment,
            'limit': args.limit,
            'train_samples': n,
            'eval_seconds_per_epoch': [round(s, 6) for s in eval_seconds],
            'test_eval_s': round(test_s, 6),
            'history': history,
            'threads': args.threads,
            'torch_version': torch.__version__,
        }))


if __name__ == '__main__':
    main()

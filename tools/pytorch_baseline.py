#!/usr/bin/python3
"""Trains the mnist-cl MLP models in PyTorch on the CPU, as a reference for speed and accuracy.

Usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/pytorch_baseline.py --model mlp50 [--json]

Needs Debian's python3-torch (`tools/setup --with-pytorch`); hence /usr/bin/python3 rather than
whatever python3 is first on PATH. The models and training follow Keras defaults so the numbers
compare with mnist-cl and with the Keras originals:
  - Dense layers: Glorot-uniform weights, zero bias;
  - Adam, lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7. (Keras adds eps to sqrt(v) before bias
    correction and PyTorch after it; with eps this small the difference is negligible.)
  - sparse categorical cross-entropy on the logits (Keras' softmax + CE, fused);
  - inputs are pixels / 255, flattened to 784;
  - the last partial batch of an epoch is used, data are shuffled every epoch;
  - a validation split takes the *last* fraction of the training set, before any shuffling;
  - the per-epoch loss and accuracy are running means over the epoch's batches in training mode
    (dropout on), as Keras reports them.

Epoch time covers the shuffle and all training steps; evaluation (validation, test) is timed
separately. With --json the progress lines go to stderr and stdout holds only one JSON object.
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
    from torch import nn
except ImportError:
    sys.exit('pytorch_baseline: numpy or torch not found; install python3-torch '
             '(tools/setup --with-pytorch) and run with /usr/bin/python3')

# name -> (layers, default batch size, default epochs, validation split), as mnist-cl's built-ins
# (`mnist-cl models --source`). A layer is ('dense', out) followed by ReLU unless it is the last,
# or ('dropout', rate). COSINE lists the models whose recipe decays the learning rate.
MODELS = {
    'mlp': ([('dense', 256), ('dropout', 0.2), ('dense', 128), ('dense', 10)], 128, 10, 0.0),
    'mlp50': ([('dense', 50), ('dense', 50), ('dense', 10)], 100, 5, 0.1),
    'mlp128': ([('dense', 128), ('dense', 32), ('dense', 10)], 128, 10, 0.0),
    'dnn': ([('dropout', 0.2), ('dense', 1024), ('dropout', 0.5), ('dense', 1024),
             ('dropout', 0.5), ('dense', 10)], 128, 20, 0.0),
}
COSINE = {'dnn'}
INPUTS = 28 * 28
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


def build_model(layers):
    """Returns (nn.Sequential, list of (in, out) of its dense layers)."""
    modules, dense_shapes, width = [], [], INPUTS
    last_dense = max(i for i, (kind, _) in enumerate(layers) if kind == 'dense')
    for i, (kind, arg) in enumerate(layers):
        if kind == 'dropout':
            modules.append(nn.Dropout(arg))
            continue
        linear = nn.Linear(width, arg)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        modules.append(linear)
        dense_shapes.append((width, arg))
        width = arg
        if i != last_dense:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules), dense_shapes


def train_flops_per_sample(dense_shapes):
    """Multiply-adds count 2 FLOPs; forward, input gradient and weight gradient cost one GEMM
    each, except that the first layer needs no input gradient."""
    total = 3 * 2 * sum(i * o for i, o in dense_shapes)
    first_in, first_out = dense_shapes[0]
    return total - 2 * first_in * first_out


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
    ap.add_argument('--epochs', type=int, help='default: the model\'s (mlp 10, mlp50 5, ...)')
    ap.add_argument('--batch-size', type=int, help='default: the model\'s (100 or 128)')
    ap.add_argument('--threads', type=int, default=2, help='torch intra-op threads (default 2)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--json', action='store_true',
                    help='print a JSON summary on stdout (progress goes to stderr)')
    args = ap.parse_args()

    layers, batch_size, epochs, val_split = MODELS[args.model]
    batch_size = args.batch_size or batch_size
    epochs = args.epochs or epochs
    if batch_size < 1 or epochs < 1 or args.threads < 1:
        ap.error('--batch-size, --epochs and --threads must be positive')
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

    x_train, y_train = load_split(args.data, 'train')
    x_test, y_test = load_split(args.data, 't10k')
    x_val = y_val = None
    if val_split > 0:
        n_fit = int(len(x_train) * (1.0 - val_split))
        x_train, x_val = x_train[:n_fit], x_train[n_fit:]
        y_train, y_val = y_train[:n_fit], y_train[n_fit:]

    model, dense_shapes = build_model(layers)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
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

    flops = train_flops_per_sample(dense_shapes)
    mean_s = sum(epoch_seconds) / len(epoch_seconds)
    gflops = flops * n / mean_s / 1e9
    print('Mean epoch: %.3fs, %.2f GFLOP/s (%d train FLOPs/sample, %d samples/epoch, '
          '%d threads)' % (mean_s, gflops, flops, n, args.threads), file=log, flush=True)
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
            'gflops': round(gflops, 4),
            'train_samples': n,
            'eval_seconds_per_epoch': [round(s, 6) for s in eval_seconds],
            'test_eval_s': round(test_s, 6),
            'history': history,
            'threads': args.threads,
            'torch_version': torch.__version__,
        }))


if __name__ == '__main__':
    main()

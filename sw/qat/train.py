"""The training loop: mini-batch Adam with a cosine learning rate, shift augmentation,
deterministic from a seed; the evaluation."""

import contextlib

import numpy as np

try:  # scikit-learn's dependency: always there with requirements.txt
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    def threadpool_limits(*args, **kwargs):
        return contextlib.nullcontext()

from .nn import Adam, softmax_cross_entropy

__all__ = ["train", "predict", "accuracy", "shift_augment"]


def shift_augment(x, rng, max_shift=1):
    """Each image moved by up to ``max_shift`` pixels in each direction (zero fill)."""
    n, _, h, w = x.shape
    p = max_shift
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dy = rng.integers(-p, p + 1, n)
    dx = rng.integers(-p, p + 1, n)
    out = np.empty_like(x)
    for i in range(n):
        out[i] = xp[i, :, p + dy[i]:p + dy[i] + h, p + dx[i]:p + dx[i] + w]
    return out


def train(net, x, y, epochs, lr, seed, batch=32, weight_decay=0.0, lr_scale=None,
          augment=True, log=None):
    """Train ``net`` in its current configuration; returns the mean loss per epoch.

    BLAS runs on one thread: the matrices are small (threads only add overhead) and the
    sums keep one order, so a seed gives the same weights every run on a machine."""
    with threadpool_limits(1, user_api="blas"):
        return _train(net, x, y, epochs, lr, seed, batch, weight_decay, lr_scale, augment,
                      log)


def _train(net, x, y, epochs, lr, seed, batch, weight_decay, lr_scale, augment, log):
    rng = np.random.default_rng(seed)
    names = [k for k in net.params if k not in net.quantizer_names() or net.config.quantized]
    params = {k: net.params[k] for k in names}
    opt = Adam(params, lr=lr, weight_decay=weight_decay,
               decay=[k for k in names if k.startswith("w")], lr_scale=lr_scale)
    steps = epochs * ((len(x) + batch - 1) // batch)
    history, t = [], 0
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            xb = shift_augment(x[idx], rng) if augment else x[idx]
            logits, cache = net.forward(xb)
            loss, dlogits = softmax_cross_entropy(logits, y[idx])
            grads = net.backward(dlogits, cache)
            opt.step(grads, lr=lr * 0.5 * (1 + np.cos(np.pi * t / steps)))
            total += loss * len(idx)
            t += 1
        history.append(total / len(x))
        if log:
            log(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.4f}")
    return history


def predict(net, x, batch=512):
    """The network's logits (fake-quantized in a quantized configuration)."""
    return np.concatenate([net.forward(x[i:i + batch])[0] for i in range(0, len(x), batch)])


def accuracy(pred, y):
    return float(np.mean(np.asarray(pred) == np.asarray(y)))

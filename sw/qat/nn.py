"""NumPy building blocks of the trainer: convolution by im2col, 2 x 2 max pooling, dense
layers, softmax cross-entropy and Adam. Activations are NHWC (the machine's
HWC order), weights (O, C, k, k) (ONNX's); float32 or float64 as given. Every forward
returns its output and what its backward needs.
"""

import numpy as np

__all__ = ["im2col", "conv2d", "conv2d_backward", "maxpool2", "maxpool2_backward",
           "softmax_cross_entropy", "Adam"]


def im2col(x, kernel, padding):
    """``x`` (N, H, W, C) as rows of patches: shape (N * OH * OW, kernel * kernel * C),
    columns in (ky, kx, c) order (a weight of shape (O, C, k, k) transposed to (O, k, k, C)
    and reshaped to (O, -1) multiplies it). Stride 1."""
    n, h, w, c = x.shape
    p = padding
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x
    oh, ow = h + 2 * p - kernel + 1, w + 2 * p - kernel + 1
    taps = [xp[:, ky:ky + oh, kx:kx + ow, :] for ky in range(kernel) for kx in range(kernel)]
    cols = np.stack(taps, axis=3).reshape(n * oh * ow, kernel * kernel * c)
    return cols, (n, h, w, c, oh, ow)


def conv2d(x, weight, padding):
    """Stride-1 convolution of ``x`` (N, H, W, C) by ``weight`` (O, C, k, k) (ONNX's
    layout), no bias: returns (N, OH, OW, O) and the cache of :func:`conv2d_backward`."""
    k = weight.shape[-1]
    cols, dims = im2col(x, k, padding)
    wm = weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)
    n, _, _, _, oh, ow = dims
    out = (cols @ wm.T).reshape(n, oh, ow, -1)
    return out, (cols, weight, padding)


def conv2d_backward(dout, cache, need_dx=True):
    """Gradients of :func:`conv2d`: ``(dx, dweight)`` (``dx`` None unless ``need_dx``)."""
    cols, weight, p = cache
    o, c, k, _ = weight.shape
    d = dout.reshape(-1, o)
    dweight = (d.T @ cols).reshape(o, k, k, c).transpose(0, 3, 1, 2)
    if not need_dx:
        return None, dweight
    # Stride 1: the input's gradient is the convolution of dout by the flipped,
    # transposed kernel with padding k - 1 - p.
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dx, _ = conv2d(dout, flipped, k - 1 - p)
    return dx, dweight


def maxpool2(x):
    """2 x 2 max pooling, stride 2, of ``x`` (N, H, W, C) (even H and W); the first
    maximum of a window (row-major) wins."""
    n, h, w, c = x.shape
    win = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    win = win.reshape(n, h // 2, w // 2, c, 4)
    arg = win.argmax(axis=-1)
    out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    return out, (arg, x.shape)


def maxpool2_backward(dout, cache):
    arg, (n, h, w, c) = cache
    dwin = np.zeros(arg.shape + (4,), dtype=dout.dtype)
    np.put_along_axis(dwin, arg[..., None], dout[..., None], axis=-1)
    dwin = dwin.reshape(n, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    return dwin.reshape(n, h, w, c)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of ``logits`` (N, K) against integer ``labels`` (N,) and its
    gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = -np.log(p[np.arange(n), labels] + 1e-300).mean()
    d = p.copy()
    d[np.arange(n), labels] -= 1
    return loss, d / n


class Adam:
    """Adam over a dict of float64 arrays, updated in place; ``lr`` per parameter name
    through ``lr_scale`` (a dict of multipliers, default 1) and decoupled weight decay
    on the names in ``decay``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decay=(), lr_scale=None):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.weight_decay, self.decay = weight_decay, set(decay)
        self.lr_scale = lr_scale or {}
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads, lr=None):
        lr = self.lr if lr is None else lr
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, g in grads.items():
            m, v, p = self.m[k], self.v[k], self.params[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            a = lr * self.lr_scale.get(k, 1.0)
            if k in self.decay and self.weight_decay:
                p -= a * self.weight_decay * p
            p -= a * (m / c1) / (np.sqrt(v / c2) + self.eps)

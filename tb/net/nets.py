"""Random networks for the network compiler's tests: the digits network's shape (three
3 x 3 convolutions with a residual, a 2 x 2 max pooling and a fully connected
classifier) with random weights, scales and biases, at chosen precisions."""

import numpy as np

from rtl.spec.codes import AfuOp
from sw.compiler_stub.network import ConvNode, Network, PoolNode, Tensor
from sw.golden import fp16
from sw.golden.layers import Conv2d, Pool2d

__all__ = ["digits_like", "conv_stack"]


def _conv_node(rng, name, x, out, layer, res=None):
    """A node with random weights over the full range, and a scale that puts the sums'
    spread at about a quarter of the output range (some saturate, most do not)."""
    b = layer.bits
    w = rng.integers(-(1 << (b - 1)), 1 << (b - 1), size=layer.weight_shape)
    x_max = (1 << (x.bits - 1)) if x.signed else (1 << x.bits) - 1
    o_max = (1 << (out.bits - 1)) - 1 if out.signed else (1 << out.bits) - 1
    spread = np.sqrt(np.prod(layer.weight_shape[1:])) * (1 << (b - 1)) * x_max / 2
    scale = rng.uniform(0.5, 2.0, layer.out_channels) * o_max / spread / 4 * 2.0 ** layer.shift
    bias = rng.uniform(-0.25, 0.5, layer.out_channels) * o_max
    return ConvNode(name, layer, w, fp16.from_float(scale), fp16.from_float(bias), x.name,
                    out, res)


def digits_like(rng, bits=(8, 8, 8, 8), channels=16, classes=10):
    """A random network of the digits network's shape: ``bits`` are the precisions of
    conv1 (its input: 8 x 8 x 1 unsigned pixels), conv2, conv3 and the classifier."""
    b1, b2, b3, bf = bits
    x = Tensor("x", (8, 8, 1), b1, False, 1 / 16)
    a = Tensor("a", (8, 8, channels), b2, False, 1.0)     # conv1: read by conv2, conv3
    b_ = Tensor("b", (8, 8, channels), b3, False, 1.0)
    c = Tensor("c", (8, 8, channels), b2, False, 1.0)     # conv3 + a: a's type
    d = Tensor("d", (4, 4, channels), b2, False, 1.0)
    y = Tensor("logits", (1, 1, classes), 8, True, 1.0)
    relu = AfuOp.RELU
    nodes = [
        _conv_node(rng, "conv1", x, a, Conv2d(1, channels, 3, 1, 1, b1, False, b2, False,
                                              activation=relu, name="conv1")),
        _conv_node(rng, "conv2", a, b_, Conv2d(channels, channels, 3, 1, 1, b2, False, b3,
                                               False, activation=relu, name="conv2")),
        _conv_node(rng, "conv3", b_, c, Conv2d(channels, channels, 3, 1, 1, b3, False, b2,
                                               False, activation=relu, residual=True,
                                               res_shift=1, name="conv3"), res="a"),
        PoolNode("pool", Pool2d(channels, 2, 2, "max", b2, False, name="pool"), "c", d),
        _conv_node(rng, "fc", d, y, Conv2d(channels, classes, 4, 1, 0, b2, False, 8, True,
                                           name="fc")),
    ]
    assert bf == b2, "the classifier reads the pooled tensor: its precision is conv1's output's"
    return Network("digits_like", x, nodes)


def conv_stack(rng, layers, channels=16, bits=8, size=8):
    """``layers`` 3 x 3 convolutions of ``channels`` channels, one after the other."""
    x = Tensor("x", (size, size, channels), bits, False, 1.0)
    nodes, prev = [], x
    for i in range(layers):
        out = Tensor(f"t{i}", (size, size, channels), bits, False, 1.0)
        layer = Conv2d(channels, channels, 3, 1, 1, bits, False, bits, False,
                       activation=AfuOp.RELU, name=f"conv{i}")
        nodes.append(_conv_node(rng, f"conv{i}", prev, out, layer))
        prev = out
    return Network("conv_stack", x, nodes)

"""Random networks for the network compiler's tests: the digits network's shape (three
3 x 3 convolutions with a residual, a 2 x 2 max pooling and a fully connected
classifier) with random weights, scales and biases, at chosen precisions."""

import numpy as np

from rtl.spec.codes import AfuOp
from sw.compiler_stub.network import ConvNode, Network, PoolNode, Tensor
from sw.golden import fp16
from sw.golden.layers import Conv2d, Pool2d

__all__ = ["digits_like", "conv_stack", "wide_classifier", "global_pool", "resnet50_parts",
           "RESNET50_STAGES"]


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


def wide_classifier(rng, inputs=1152, classes=8):
    """A 3 x 3 convolution (4 -> ``inputs / 9`` channels) and a classifier over all of
    it: the classifier's one output chunk's weights (``inputs * 8`` bytes) exceed a
    ``sim`` bank."""
    ch = inputs // 9
    x = Tensor("x", (3, 3, 4), 8, False, 1.0)
    a = Tensor("a", (3, 3, ch), 8, False, 1.0)
    y = Tensor("y", (1, 1, classes), 8, True, 1.0)
    n1 = _conv_node(rng, "conv", x, a, Conv2d(4, ch, 3, 1, 1, 8, False, 8, False,
                                              activation=AfuOp.RELU, name="conv"))
    n2 = _conv_node(rng, "fc", a, y, Conv2d(ch, classes, 3, 1, 0, 8, False, 8, True,
                                            name="fc"))
    return Network("wide", x, [n1, n2])


#: ResNet-50 (v1.5: the stride on the 3 x 3 convolution) at 224 x 224: per stage its
#: blocks, width (the 3 x 3's channels; the block's output is four times it) and stride.
RESNET50_STAGES = ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))


def resnet50_parts(rng):
    """ResNet-50's layer shapes, int8, with random weights, as the networks that are
    compiled one after another for the cycle model: the stem (7 x 7 convolution of
    stride 2, 3 -> 64 channels, 224 x 224 -> 112 x 112; then a 2 x 2 max pooling of
    stride 2, as the machine's pooling has no padding: the 3 x 3 pooling of stride 2
    with a border of 1 gives the same 56 x 56), each bottleneck block (1 x 1 reduce,
    3 x 3 of the stage's stride, 1 x 1 expand adding the residual; the first block of a
    stage with a 1 x 1 projection of the block's input), and the head (7 x 7 average
    pooling, the 1000-class classifier as a 1 x 1 convolution). Returns ``[(name,
    network)]``."""
    relu = AfuOp.RELU

    def conv(name, x, out_shape, cin, cout, k, s, p, res=None, act=relu, out_signed=False):
        out = Tensor(f"{name}_out", out_shape, 8, out_signed, 1.0)
        layer = Conv2d(cin, cout, k, s, p, 8, x.signed, 8, out_signed, activation=act,
                       residual=res is not None, res_shift=0 if res is None else 1,
                       name=name)
        return _conv_node(rng, name, x, out, layer, None if res is None else res.name), out

    parts = []
    x = Tensor("image", (224, 224, 3), 8, False, 1.0)
    c1, a = conv("conv1", x, (112, 112, 64), 3, 64, 7, 2, 3)
    pooled = Tensor("pool1_out", (56, 56, 64), 8, False, 1.0)
    parts.append(("stem", Network("stem", x, [
        c1, PoolNode("pool1", Pool2d(64, 2, 2, "max", 8, False, name="pool1"), a.name,
                     pooled)])))
    size, cin = 56, 64
    for stage, (blocks, width, stride) in enumerate(RESNET50_STAGES, start=2):
        for b in range(blocks):
            s = stride if b == 0 else 1
            out_size = size // s
            nm = f"s{stage}b{b}"
            xin = Tensor(f"{nm}_in", (size, size, cin), 8, False, 1.0)
            nodes = []
            res = xin
            if b == 0:
                proj, res = conv(f"{nm}_proj", xin, (out_size, out_size, 4 * width), cin,
                                 4 * width, 1, s, 0, act=None)
                nodes.append(proj)
            n1, t1 = conv(f"{nm}_a", xin, (size, size, width), cin, width, 1, 1, 0)
            n2, t2 = conv(f"{nm}_b", t1, (out_size, out_size, width), width, width, 3, s, 1)
            n3, _ = conv(f"{nm}_c", t2, (out_size, out_size, 4 * width), width, 4 * width,
                         1, 1, 0, res=res)
            parts.append((nm, Network(nm, xin, nodes + [n1, n2, n3])))
            size, cin = out_size, 4 * width
    xin = Tensor("head_in", (7, 7, 2048), 8, False, 1.0)
    pooled = Tensor("avgpool_out", (1, 1, 2048), 8, False, 1.0)
    _fc, _ = conv("fc", pooled, (1, 1, 1000), 2048, 1000, 1, 1, 0, act=None, out_signed=True)
    parts.append(("head", Network("head", xin, [
        PoolNode("avgpool", Pool2d(2048, 7, 7, "avg", 8, False, name="avgpool"), xin.name,
                 pooled), _fc])))
    return parts


def global_pool(rng, channels=32, size=4):
    """A 3 x 3 convolution (4 -> ``channels``) and an average pooling over the whole
    ``size x size`` output: one output row, its channels split over the cores."""
    x = Tensor("x", (size, size, 4), 8, False, 1.0)
    a = Tensor("a", (size, size, channels), 8, False, 1.0)
    y = Tensor("y", (1, 1, channels), 8, False, 1.0)
    n1 = _conv_node(rng, "conv", x, a, Conv2d(4, channels, 3, 1, 1, 8, False, 8, False,
                                              activation=AfuOp.RELU, name="conv"))
    return Network("global_pool", x, [
        n1, PoolNode("pool", Pool2d(channels, size, size, "avg", 8, False, name="pool"),
                     "a", y)])

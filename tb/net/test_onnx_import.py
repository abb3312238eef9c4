"""The ONNX importer (sw/compiler_stub/onnx_import.py): QDQ models built here with
onnx.helper and one quantized by onnxruntime's quantize_static import into networks whose
reference run agrees with onnxruntime; a corpus of models the machine cannot run is
rejected with a message naming the node, the operator and the reason."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

from rtl.spec.codes import AfuOp
from sw.compiler_stub.network import PoolNode, run_reference
from sw.compiler_stub.onnx_import import OnnxImportError, import_onnx

# zero-point type -> (bits, signed, opset, ir_version onnxruntime accepts)
TYPES = {"int8": (T.INT8, 8, True, 13, 8), "uint8": (T.UINT8, 8, False, 13, 8),
         "int4": (T.INT4, 4, True, 21, 10), "uint4": (T.UINT4, 4, False, 21, 10),
         "int2": (T.INT2, 2, True, 25, 13), "uint2": (T.UINT2, 2, False, 25, 13)}


def qrange(kind):
    _, bits, signed, _, _ = TYPES[kind]
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


class Graph:
    """A QDQ graph under construction: activations are (N, C, H, W) float tensors
    quantized with a scalar scale and a zero zero point of a type in TYPES."""

    def __init__(self, opset=13, ir=8):
        self.nodes, self.inits, self.inputs, self.opset, self.ir = [], [], [], opset, ir
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}{self.count}"

    def const(self, array, dtype=None, name=None):
        name = name or self.name("c")
        if dtype is None:
            self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        else:
            a = np.asarray(array)
            self.inits.append(helper.make_tensor(name, dtype, a.shape, a.ravel().tolist()))
        return name

    def node(self, op, inputs, name=None, n_out=1, **attrs):
        name = name or self.name(op.lower())
        outs = [f"{name}_out"] + [f"{name}_out{i}" for i in range(1, n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def q(self, x, scale, kind, name=None, zp=0):
        s = self.const(np.float32(scale))
        z = self.const(zp, TYPES[kind][0])
        return self.node("QuantizeLinear", [x, s, z], name=name)

    def dq(self, x, scale, kind, name=None):
        s = self.const(np.float32(scale))
        z = self.const(0, TYPES[kind][0])
        return self.node("DequantizeLinear", [x, s, z], name=name)

    def qdq(self, x, scale, kind, name=None):
        return self.dq(self.q(x, scale, kind, name=name), scale, kind)

    def input(self, shape, scale, kind, name="x", elem=T.FLOAT):
        self.inputs.append(helper.make_tensor_value_info(name, elem, ["N"] + list(shape)))
        return self.qdq(name, scale, kind, name="q_in")

    def weights(self, w, scale, dtype=T.INT8, axis=0, name=None):
        """DequantizeLinear of integer weights ``w`` with per-tensor or per-channel scale."""
        wi = self.const(w, dtype)
        s = self.const(np.asarray(scale, np.float32))
        z = self.const(np.zeros(np.shape(scale), int), dtype)
        return self.node("DequantizeLinear", [wi, s, z], name=name, axis=axis)

    def model(self, output, elem=T.FLOAT, outputs=None):
        outs = [helper.make_tensor_value_info(o, elem, None) for o in (outputs or [output])]
        g = helper.make_graph(self.nodes, "test", self.inputs, outs, self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)],
                                 ir_version=self.ir)


def graph_for(kind):
    return Graph(opset=TYPES[kind][3], ir=TYPES[kind][4])


def conv_layer(g, x, c, m, k, rng, kind, s_x, s_y, pad=0, stride=1, act=None, bias=True,
               group=1, name="conv", wkind=None, out_q=True, **act_attrs):
    """Q(act(Conv(x, DQ(w)) [+ b])) with per-channel weight scales."""
    wkind = wkind or kind
    lo, hi = qrange(wkind.replace("uint", "int"))
    w = rng.integers(lo, hi + 1, size=(m, c // group, k, k))
    s_w = rng.uniform(0.5, 1.5, m) / (k * k * c // group * max(abs(lo), hi))
    wd = g.weights(w, s_w, TYPES[wkind.replace("uint", "int")][0])
    ins = [x, wd]
    if bias:
        ins.append(g.const(rng.normal(0, 2 * s_y, m).astype(np.float32)))
    y = g.node("Conv", ins, name=name, kernel_shape=[k, k], pads=[pad] * 4,
               strides=[stride] * 2, group=group)
    if act is not None:
        y = g.node(act, [y], name="act", **act_attrs)
    return g.q(y, s_y, kind, name="q_" + name) if out_q else y


def ort_runner(model):
    """onnxruntime running the QDQ graph as written: without graph optimizations, which
    fuse QuantizeLinear and DequantizeLinear nodes into integer kernels that can skip a
    requantization."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so)
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def compare(model, rng, runs=8, dequantized=True):
    """(agreement, largest difference) of the network's integer output with onnxruntime's
    over ``runs`` random inputs; the inputs are exact multiples of the input scale."""
    net = import_onnx(model)
    t = net.input
    h, w, c = t.shape
    lo, hi = (-(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1) if t.signed else \
        (0, (1 << t.bits) - 1)
    same, total, worst = 0, 0, 0
    ort_run = ort_runner(model)
    for _ in range(runs):
        xq = rng.integers(lo, hi + 1, size=(h, w, c))
        x = (xq.transpose(2, 0, 1)[None] * np.float32(t.scale)).astype(np.float32)
        y = ort_run(x)[0]
        if dequantized:
            y = np.rint(y.astype(np.float64) / net.output.scale).astype(np.int64)
        y = y.transpose(1, 2, 0) if y.ndim == 3 else y.reshape(1, 1, -1)
        got = run_reference(net, xq)[net.output.name]
        same += int((got == y).sum())
        total += y.size
        worst = max(worst, int(np.abs(got - y).max()))
    return net, same / total, worst


# --------------------------------------------------------------------------- good models

@pytest.mark.parametrize("kind,out_kind", [("int8", "uint8"), ("uint8", "int8"),
                                           ("int4", "uint4"), ("int2", "uint2"),
                                           ("uint2", "int2")])
def test_conv_relu(kind, out_kind, seed):
    """Conv 3x3 (pad 1) + ReLU at each precision agrees with onnxruntime."""
    rng = np.random.default_rng(seed)
    g = graph_for(out_kind if TYPES[out_kind][3] > TYPES[kind][3] else kind)
    x = g.input((3, 6, 6), 0.05, kind)
    y = conv_layer(g, x, 3, 5, 3, rng, out_kind, 0.05, 0.04, pad=1, act="Relu")
    net, agree, worst = compare(g.model(g.dq(y, 0.04, out_kind)), rng)
    print(f"seed {seed}: conv+relu {kind}->{out_kind}: {100 * agree:.1f}% of outputs equal "
          f"onnxruntime's, largest difference {worst}")
    (node,) = net.nodes
    assert node.layer.kernel == 3 and node.layer.padding == 1
    assert node.layer.bits == TYPES[kind][1] and node.layer.out_signed == TYPES[out_kind][2]
    assert agree >= 0.95 and worst <= 1


@pytest.mark.parametrize("act,attrs,afu", [("Clip", {}, AfuOp.CLAMP),
                                           ("LeakyRelu", {"alpha": 0.125}, AfuOp.LEAKY_RELU)])
def test_conv_activations(act, attrs, afu, seed):
    """ReLU6 as Clip(0, 6) with constant bounds, and LeakyRelu, rescaled to output units."""
    rng = np.random.default_rng(seed)
    g = Graph(opset=13)
    x = g.input((4, 5, 5), 0.05, "int8")
    y = conv_layer(g, x, 4, 6, 3, rng, "int8", 0.05, 0.03, stride=2, out_q=False)
    if act == "Clip":
        y = g.node("Clip", [y, g.const(np.float32(0)), g.const(np.float32(3))], name="relu6")
    else:
        y = g.node(act, [y], name="act", **attrs)
    y = g.q(y, 0.03, "int8", name="q_out")
    net, agree, worst = compare(g.model(y, elem=T.INT8), rng, dequantized=False)
    print(f"seed {seed}: conv+{act}: {100 * agree:.1f}% equal, largest difference {worst}")
    layer = net.nodes[0].layer
    assert layer.activation == afu and layer.stride == 2
    if act == "Clip":  # bounds in output units: 0 and 3 / 0.03 = 100
        assert (layer.act_p0, layer.act_p1) == (0, int(np.float16(100).view(np.uint16)))
    assert agree >= 0.95 and worst <= 1


def test_sigmoid_with_unit_output_scale(seed):
    """A table activation maps exactly when the output scale is 1."""
    rng = np.random.default_rng(seed)
    g = Graph(opset=13)
    x = g.input((2, 4, 4), 0.1, "int8")
    y = conv_layer(g, x, 2, 3, 1, rng, "uint8", 0.1, 1.0, act="Sigmoid")
    net = import_onnx(g.model(y, elem=T.UINT8))
    assert net.nodes[0].layer.activation == AfuOp.SIGMOID


def test_depthwise_int4(seed):
    rng = np.random.default_rng(seed)
    g = graph_for("int4")
    x = g.input((4, 6, 6), 0.25, "int4")
    y = conv_layer(g, x, 4, 4, 3, rng, "int4", 0.25, 0.2, pad=1, group=4)
    net, agree, worst = compare(g.model(g.dq(y, 0.2, "int4")), rng)
    print(f"seed {seed}: depthwise int4: {100 * agree:.1f}% equal, largest difference {worst}")
    assert net.nodes[0].layer.depthwise and net.nodes[0].weights.shape == (4, 3, 3, 1)
    assert agree >= 0.95 and worst <= 1


@pytest.mark.parametrize("kind", ["int8", "int4"])
def test_residual(kind, seed):
    """conv2(conv1(x)) + conv1(x) at half conv1's scale, then ReLU: one node with the
    residual; res_shift from the exact scale ratio."""
    rng = np.random.default_rng(seed)
    g = graph_for(kind)
    x = g.input((4, 5, 5), 0.1, kind)
    a = conv_layer(g, x, 4, 4, 3, rng, kind, 0.1, 0.25, pad=1, name="conv1")
    ad = g.dq(a, 0.25, kind)
    b = conv_layer(g, ad, 4, 4, 3, rng, kind, 0.25, 0.125, pad=1, name="conv2", out_q=False)
    y = g.node("Add", [b, g.dq(a, 0.25, kind)], name="add")
    y = g.node("Relu", [y], name="relu")
    y = g.q(y, 0.5, kind, name="q_out")
    net, agree, worst = compare(g.model(g.dq(y, 0.5, kind)), rng)
    print(f"seed {seed}: residual {kind}: {100 * agree:.1f}% equal, largest difference {worst}")
    n1, n2 = net.nodes
    assert n2.residual == n1.output.name and n2.layer.res_shift == 1
    assert n2.layer.activation == AfuOp.RELU
    assert agree >= 0.95 and worst <= 1


@pytest.mark.parametrize("quantized_domain", [False, True])
def test_maxpool(quantized_domain, seed):
    """DQ -> MaxPool -> Q at one scale, or MaxPool on the integer tensor itself: exact."""
    rng = np.random.default_rng(seed)
    g = Graph(opset=13)
    x = g.input((3, 7, 7), 0.1, "int8")
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.05, pad=1, act="Relu")
    if quantized_domain:
        y = g.node("MaxPool", [y], name="pool", kernel_shape=[3, 3], strides=[2, 2])
    else:
        y = g.node("MaxPool", [g.dq(y, 0.05, "int8")], name="pool", kernel_shape=[3, 3],
                   strides=[2, 2])
        y = g.q(y, 0.05, "int8", name="q_pool")
    net, agree, worst = compare(g.model(g.dq(y, 0.05, "int8")), rng)
    assert isinstance(net.nodes[1], PoolNode) and net.nodes[1].pool.kernel == 3
    assert net.output.shape == (3, 3, 4)
    assert agree >= 0.95 and worst <= 1


@pytest.mark.parametrize("k", [2, 3])
def test_average_pool(k, seed):
    """AveragePool between DQ and Q at one scale, against the exact average rounded to
    nearest even: exact for 2 x 2 (a binary16 sum times 1/4); for 3 x 3 the machine
    multiplies by fp16(1/9)."""
    rng = np.random.default_rng(seed)
    g = Graph(opset=13)
    x = g.input((3, 7, 7), 0.1, "int8")
    y = g.node("AveragePool", [x], name="ap", kernel_shape=[k, k], strides=[2, 2])
    model = g.model(g.q(y, 0.1, "int8", name="q_ap"), elem=T.INT8)
    net, agree_ort, _ = compare(model, rng, dequantized=False)
    same, total = 0, 0
    for _ in range(8):
        xq = rng.integers(-128, 128, size=(7, 7, 3))
        o = net.nodes[0].pool.out_size(7, 7)
        sums = sum(xq[i:i + 2 * (o[0] - 1) + 1:2, j:j + 2 * (o[1] - 1) + 1:2]
                   for i in range(k) for j in range(k))
        exact = np.clip(np.rint(sums / k ** 2), -128, 127)  # float64: exact ties to even
        got = run_reference(net, xq)[net.output.name]
        same += int((got == exact).sum())
        total += got.size
    print(f"seed {seed}: average pool {k}x{k}: {100 * same / total:.1f}% equal to the exact "
          f"rounded average, {100 * agree_ort:.1f}% to onnxruntime's (whose float32 scales "
          f"decide the exact ties)")
    assert same == total if k == 2 else same >= 0.95 * total


def test_global_average_pool_int2(seed):
    """GlobalAveragePool over 5 x 5 int2 values: an average Pool2d of kernel 5."""
    rng = np.random.default_rng(seed)
    g = graph_for("int2")
    x = g.input((4, 5, 5), 0.5, "int2")
    y = g.node("GlobalAveragePool", [x], name="gap")
    y = g.q(y, 0.5, "int2", name="q_gap")
    net, agree, worst = compare(g.model(g.dq(y, 0.5, "int2")), rng)
    print(f"seed {seed}: global average pool int2: {100 * agree:.1f}% equal")
    (node,) = net.nodes
    assert node.pool.kind == "avg" and node.pool.kernel == 5 and net.output.shape == (1, 1, 4)
    assert agree == 1.0  # sums of at most 25 small integers are exact in binary16


def flat_fc(rng, how, c=3, h=3, m=5):
    """x (c, h, h) int8 -> Flatten/Reshape -> Gemm/MatMul to m int8 outputs, with
    power-of-two scales and small values so that every step is exact."""
    g = Graph(opset=13)
    x = g.input((c, h, h), 0.5, "int8")
    w = rng.integers(-2, 2, size=(m, c * h * h))        # (out, C*H*W in C, H, W order)
    b = rng.integers(-8, 8, size=m).astype(np.float32) * 0.25
    if how == "flatten-gemm-transB":
        f = g.node("Flatten", [x], name="flatten")
        y = g.node("Gemm", [f, g.weights(w, 0.25), g.const(b)], name="fc", transB=1)
    elif how == "reshape-gemm":
        f = g.node("Reshape", [x, g.const(np.array([1, -1], np.int64))], name="reshape")
        y = g.node("Gemm", [f, g.weights(w.T.copy(), np.full(m, 0.25, np.float32), axis=1),
                            g.const(b)], name="fc")
    else:  # quantized Flatten (as onnxruntime emits it), MatMul + Add
        f = g.node("Flatten", [x], name="flatten")
        f = g.qdq(f, 0.5, "int8", name="q_flat")
        y = g.node("MatMul", [f, g.weights(w.T.copy(), 0.25, axis=1)], name="fc")
        y = g.node("Add", [y, g.const(b)], name="bias")
    y = g.q(y, 0.25, "int8", name="q_fc")
    return g, y, w, b


@pytest.mark.parametrize("how", ["flatten-gemm-transB", "reshape-gemm", "qflatten-matmul"])
def test_fully_connected_permutation_is_exact(how, seed):
    """The weight matrix in ONNX's C, H, W flatten order maps onto the IR's (out, kh, kw,
    in) weights: the network equals the flattened product exactly and onnxruntime on every
    output."""
    rng = np.random.default_rng(seed)
    c, h, m = 3, 3, 5
    g, y, w, b = flat_fc(rng, how, c, h, m)
    model = g.model(g.dq(y, 0.25, "int8"))
    net, agree, worst = compare(model, rng)
    (node,) = net.nodes
    assert node.layer.kernel == h and net.output.shape == (1, 1, m)
    assert np.array_equal(node.weights, w.reshape(m, c, h, h).transpose(0, 2, 3, 1))
    xq = rng.integers(-8, 8, size=(h, h, c))
    want = np.clip(np.rint((xq.transpose(2, 0, 1).reshape(-1) @ w.T) * 0.5 + b / 0.25),
                   -128, 127)
    got = run_reference(net, xq)[net.output.name].reshape(-1)
    assert np.array_equal(got, want.astype(np.int64))
    assert agree == 1.0


def test_gemm_on_features(seed):
    """A Gemm on an (N, C) tensor (another Gemm's output) is a 1 x 1 convolution."""
    rng = np.random.default_rng(seed)
    g, y, _, _ = flat_fc(rng, "flatten-gemm-transB")
    w2 = rng.integers(-4, 4, size=(4, 5))
    z = g.node("Gemm", [g.dq(y, 0.25, "int8"), g.weights(w2, 0.125)], name="fc2", transB=1)
    z = g.q(z, 0.5, "int8", name="q_fc2")
    net, agree, worst = compare(g.model(g.dq(z, 0.5, "int8")), rng)
    assert net.nodes[1].layer.kernel == 1 and net.output.shape == (1, 1, 4)
    assert agree == 1.0


@pytest.mark.parametrize("same_scale", [True, False])
def test_relu_between_quantizers(same_scale, seed):
    """Conv -> Q -> DQ -> Relu -> Q (onnxruntime's form with symmetric activations): at
    one scale the ReLU joins the convolution; otherwise a depthwise 1 x 1 layer of unit
    weights requantizes."""
    rng = np.random.default_rng(seed)
    g = Graph(opset=13)
    x = g.input((3, 5, 5), 0.1, "int8")
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.05)
    s2 = 0.05 if same_scale else 0.03
    y = g.node("Relu", [g.dq(y, 0.05, "int8")], name="relu")
    y = g.q(y, s2, "int8", name="q_relu")
    net, agree, worst = compare(g.model(g.dq(y, s2, "int8")), rng)
    print(f"seed {seed}: Q-DQ-Relu-Q, scales {'equal' if same_scale else 'differ'}: "
          f"{100 * agree:.1f}% equal, largest difference {worst}")
    if same_scale:
        assert len(net.nodes) == 1 and net.nodes[0].layer.activation == AfuOp.RELU
        assert agree >= 0.95 and worst <= 1
    else:  # a difference of 1 in the first layer's output becomes up to 2 (* 0.05 / 0.03)
        assert len(net.nodes) == 2 and net.nodes[1].layer.depthwise
        assert agree >= 0.95 and worst <= 2


def test_scales_map_to_shift_scale_bias():
    """shift keeps fp16(acc * 2**-shift) finite; scale = fp16(s_x*s_w*2**shift/s_y);
    bias = fp16(b/s_y)."""
    g = Graph(opset=13)
    x = g.input((8, 3, 3), 0.02, "int8")
    w = np.full((2, 8, 3, 3), 127)
    w[1] = -3
    b = np.array([0.3, -0.7], np.float32)
    y = g.node("Conv", [x, g.weights(w, np.array([0.001, 0.002], np.float32)), g.const(b)],
               name="conv")
    y = g.q(y, 0.1, "int8", name="q")
    node = import_onnx(g.model(y, elem=T.INT8)).nodes[0]
    bound = 127 * 8 * 9 * 128
    assert bound * 2.0 ** -node.layer.shift <= 65504 < bound * 2.0 ** -(node.layer.shift - 1)
    s = [float(np.float32(0.02)) * float(np.float32(v)) * 2 ** node.layer.shift /
         float(np.float32(0.1)) for v in (0.001, 0.002)]
    assert np.array_equal(node.scale, np.array(s, np.float16).view(np.uint16))
    assert np.array_equal(node.bias, (b.astype(np.float64) / float(np.float32(0.1)))
                          .astype(np.float16).view(np.uint16))


def test_quantized_float_weights(seed):
    """Float weights through QuantizeLinear and DequantizeLinear (another export form):
    the QuantizeLinear is folded exactly, saturate(round_half_even(w / scale))."""
    rng = np.random.default_rng(seed)
    g = Graph(opset=13)
    x = g.input((3, 5, 5), 0.1, "int8")
    w = rng.normal(0, 0.05, (4, 3, 3, 3)).astype(np.float32)
    s_w = np.abs(w).reshape(4, -1).max(axis=1).astype(np.float32) / 100
    s, z = g.const(s_w), g.const(np.zeros(4, int), T.INT8)
    wq = g.node("QuantizeLinear", [g.const(w), s, z], name="qw", axis=0)
    wd = g.node("DequantizeLinear", [wq, s, z], name="dqw", axis=0)
    y = g.q(g.node("Conv", [x, wd], name="conv"), 0.05, "int8", name="q_conv")
    net, agree, worst = compare(g.model(y, elem=T.INT8), rng, dequantized=False)
    want = np.clip(np.rint(w / s_w[:, None, None, None]), -128, 127).transpose(0, 2, 3, 1)
    assert np.array_equal(net.nodes[0].weights, want.astype(np.int64))
    assert agree >= 0.95 and worst <= 1


def test_constant_nodes_and_clip_attributes(seed):
    """Scales, zero points and weights from Constant nodes (as some exporters write them),
    and Clip with min/max attributes (opset 10)."""
    rng = np.random.default_rng(seed)
    g = Graph(opset=10, ir=5)
    consts = []

    def const(array, dtype):
        name = g.name("k")
        a = np.asarray(array)
        consts.append(helper.make_node("Constant", [], [name], name=name + "_node",
                                       value=helper.make_tensor(name, dtype, a.shape,
                                                                a.ravel().tolist())))
        return name

    g.inputs.append(helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 5, 5]))
    s_x, z = const(np.float32(0.1), T.FLOAT), const(0, T.INT8)
    x = g.node("DequantizeLinear", [g.node("QuantizeLinear", ["x", s_x, z], name="q_in"),
                                    s_x, z], name="dq_in")
    w = rng.integers(-128, 128, size=(4, 3, 3, 3))
    s_w = const(np.float32(0.002), T.FLOAT)
    wd = g.node("DequantizeLinear", [const(w, T.INT8), s_w, const(0, T.INT8)], name="dq_w")
    y = g.node("Conv", [x, wd], name="conv")
    y = g.node("Clip", [y], name="clip", min=0.0, max=3.0)
    y = g.node("QuantizeLinear", [y, const(np.float32(0.05), T.FLOAT), z], name="q_out")
    g.nodes[:0] = consts
    net = import_onnx(g.model(y, elem=T.INT8))
    layer = net.nodes[0].layer
    assert np.array_equal(net.nodes[0].weights, w.transpose(0, 2, 3, 1))
    assert layer.activation == AfuOp.CLAMP  # 3 / 0.05 = 60: inside the int8 range
    assert (layer.act_p0, layer.act_p1) == (0, int(np.float16(60).view(np.uint16)))


def test_path_and_name(tmp_path, seed):
    rng = np.random.default_rng(seed)
    g = Graph(opset=13)
    x = g.input((2, 3, 3), 0.1, "int8")
    y = conv_layer(g, x, 2, 2, 1, rng, "int8", 0.1, 0.1)
    path = tmp_path / "m.onnx"
    onnx.save(g.model(y, elem=T.INT8), path)
    assert import_onnx(path, name="tiny").name == "tiny"
    assert import_onnx(str(path)).name == "test"


# ------------------------------------------------------- a model from onnxruntime's tool

TOOL_SEED = 2026


def float_model(rng):
    """Conv(3->8, 3x3, pad 1)-Relu-MaxPool(2)-Flatten-Gemm(128->10), float32, 8x8 input."""
    w1 = rng.normal(0, 0.25, (8, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.1, (10, 8 * 4 * 4)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 10).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2]),
             helper.make_node("Flatten", ["p1"], ["f1"], name="flatten"),
             helper.make_node("Gemm", ["f1", "w2", "b2"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(
        nodes, "tool", [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["N", 10])],
        [numpy_helper.from_array(a, n) for a, n in
         ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def quantize(model, tmp_path, rng, shape, count=32):
    """``model`` quantized by onnxruntime's quantize_static: QDQ, per channel, symmetric
    int8 activations and weights, calibrated on ``count`` normal random inputs."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    src, dst = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save(model, src)
    calibration = [{"x": rng.normal(0, 1, (1,) + shape).astype(np.float32)}
                   for _ in range(count)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter(calibration)

        def get_next(self):
            return next(self.data, None)

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    return onnx.load(dst)


def test_quantize_static_model(tmp_path, seed):
    """A float model quantized by onnxruntime (QDQ, symmetric int8 activations and
    weights, per channel) imports; its argmax agrees with onnxruntime's."""
    print(f"model weights and calibration: seed {TOOL_SEED}; test inputs: seed {seed}")
    rng = np.random.default_rng(TOOL_SEED)
    model = quantize(float_model(rng), tmp_path, rng, (3, 8, 8))
    net = import_onnx(model)
    kinds = [type(n).__name__ for n in net.nodes]
    assert kinds == ["ConvNode", "PoolNode", "ConvNode"]
    assert net.nodes[0].layer.activation == AfuOp.RELU
    assert net.nodes[2].layer.kernel == 4 and net.output.shape == (1, 1, 10)

    # onnxruntime as the graph says (every QuantizeLinear applied), and with its default
    # graph optimizations, which fuse the last Gemm, QuantizeLinear and DequantizeLinear
    # into one integer Gemm with float output: its logits skip the int8 requantization.
    fused = ort.InferenceSession(model.SerializeToString())
    ort_run = ort_runner(model)
    rng = np.random.default_rng(seed)
    runs, argmax, argmax_fused, fused_vs_qdq, same, total = 400, 0, 0, 0, 0, 0
    for _ in range(runs):
        xq = np.clip(np.rint(rng.normal(0, 1, (8, 8, 3)) / net.input.scale), -128, 127)
        xq = xq.astype(np.int64)
        x = (xq.transpose(2, 0, 1)[None] * np.float32(net.input.scale)).astype(np.float32)
        got = run_reference(net, xq)[net.output.name].reshape(-1)
        want = np.rint(ort_run(x)[0] / net.output.scale).astype(np.int64)
        logits = fused.run(None, {"x": x})[0][0]
        argmax += int(np.argmax(got) == np.argmax(want))
        argmax_fused += int(np.argmax(got) == np.argmax(logits))
        fused_vs_qdq += int(np.argmax(want) == np.argmax(logits))
        same += int((want == got).sum())
        total += got.size
    print(f"quantize_static model, {runs} random inputs: the network's argmax agrees with "
          f"onnxruntime's (QDQ graph as written) on {100 * argmax / runs:.1f}%, "
          f"{100 * same / total:.1f}% of the int8 outputs are equal; against onnxruntime's "
          f"optimized session (float logits) {100 * argmax_fused / runs:.1f}% (onnxruntime's "
          f"own int8 output agrees with those logits on {100 * fused_vs_qdq / runs:.1f}%)")
    assert argmax >= 0.95 * runs


def test_quantize_static_residual_block_is_rejected(tmp_path):
    """onnxruntime quantizes a Conv's output before a residual Add: rejected, saying why."""
    rng = np.random.default_rng(TOOL_SEED)
    w1, w2 = (numpy_helper.from_array(rng.normal(0, 0.2, (4, 4, 3, 3)).astype(np.float32), n)
              for n in ("w1", "w2"))
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1", pads=[1] * 4),
             helper.make_node("Relu", ["a"], ["ar"], name="relu1"),
             helper.make_node("Conv", ["ar", "w2"], ["b"], name="conv2", pads=[1] * 4),
             helper.make_node("Add", ["b", "ar"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["y"], name="relu2")]
    g = helper.make_graph(nodes, "block",
                          [helper.make_tensor_value_info("x", T.FLOAT, ["N", 4, 6, 6])],
                          [helper.make_tensor_value_info("y", T.FLOAT, ["N", 4, 6, 6])],
                          [w1, w2])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    model = quantize(model, tmp_path, rng, (4, 6, 6), count=8)
    with pytest.raises(OnnxImportError, match=r"node 'add' \(Add\): a QuantizeLinear .* "
                                              r"between node 'conv2' \(Conv\) and this Add"):
        import_onnx(model)


# ------------------------------------------------------------------ rejected models

def base(kind="int8", opset=None, **conv):
    """x -> conv (3 -> 4, 3x3) -> Q: the start of most rejected models."""
    rng = np.random.default_rng(1)
    g = Graph(opset=opset or TYPES[kind][3], ir=TYPES[kind][4])
    x = g.input((3, 8, 8), 0.1, kind)
    return g, x, rng


def bad_unsupported_op():
    g, x, rng = base()
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1, out_q=False)
    y = g.node("HardSwish", [y], name="hswish")
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "hswish", "HardSwish", "unsupported operator"


def bad_zero_point():
    g, x, rng = base()
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1, out_q=False)
    y = g.q(y, 0.1, "int8", name="q_out", zp=3)
    return g.model(y, elem=T.INT8), "q_out", "QuantizeLinear", "non-zero zero point"


def bad_dilation():
    g, x, rng = base()
    w = g.weights(np.ones((4, 3, 3, 3), int), 0.01)
    y = g.node("Conv", [x, w], name="dil", dilations=[2, 2])
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "dil", "Conv", "dilation"


def bad_group():
    g = Graph()
    x = g.input((4, 6, 6), 0.1, "int8")
    y = g.node("Conv", [x, g.weights(np.ones((4, 2, 3, 3), int), 0.01)], name="grouped",
               group=2)
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "grouped", "Conv", "group 2"


def bad_pads():
    g, x, rng = base()
    y = g.node("Conv", [x, g.weights(np.ones((4, 3, 3, 3), int), 0.01)], name="pads",
               pads=[1, 1, 0, 0])
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "pads", "Conv", "symmetric pads"


def bad_ceil_mode():
    g, x, rng = base()
    y = g.node("MaxPool", [x], name="mp", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "mp", "MaxPool", "ceil_mode 1"


def bad_per_channel_activation():
    g, x, rng = base()
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1, out_q=False)
    s = g.const(np.full(4, 0.1, np.float32))
    z = g.const(np.zeros(4, int), T.INT8)
    y = g.node("QuantizeLinear", [y, s, z], name="q_pc", axis=1)
    return g.model(y, elem=T.INT8), "q_pc", "QuantizeLinear", "per-channel activation scale"


def bad_quantize_before_add():
    g, x, rng = base()
    a = conv_layer(g, x, 3, 3, 3, rng, "int8", 0.1, 0.1, pad=1, name="c1")
    b = conv_layer(g, g.dq(a, 0.1, "int8"), 3, 3, 3, rng, "int8", 0.1, 0.1, pad=1, name="c2")
    y = g.node("Add", [g.dq(b, 0.1, "int8"), g.dq(a, 0.1, "int8")], name="add")
    return (g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "add", "Add",
            "cannot be mapped exactly: the machine adds the residual")


def bad_residual_ratio():
    g, x, rng = base()
    a = conv_layer(g, x, 3, 3, 3, rng, "int8", 0.1, 0.1, pad=1, name="c1")
    b = conv_layer(g, g.dq(a, 0.1, "int8"), 3, 3, 3, rng, "int8", 0.1, 0.3, pad=1,
                   name="c2", out_q=False)
    y = g.node("Add", [b, g.dq(a, 0.1, "int8")], name="add")
    return g.model(g.q(y, 0.3, "int8"), elem=T.INT8), "add", "Add", "not 2**-k"


def bad_weight_range():
    g, x, rng = base("int4")
    w = np.zeros((4, 3, 3, 3), int)
    w[0, 0, 0, 0] = 9  # int8 storage, int4 layer
    y = g.node("Conv", [x, g.weights(w, 0.01, T.INT8)], name="c4")
    return (g.model(g.q(y, 0.1, "int4"), elem=T.INT4), "c4", "Conv",
            "outside the signed 4-bit range")


def bad_weight_precision():
    g, x, rng = base("int8", opset=21)
    y = g.node("Conv", [x, g.weights(np.ones((4, 3, 3, 3), int), 0.01, T.INT4)], name="cw")
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "cw", "Conv", "share one precision"


def bad_fc_not_square():
    g = Graph()
    x = g.input((2, 2, 3), 0.1, "int8")
    f = g.node("Flatten", [x], name="flat")
    y = g.node("Gemm", [f, g.weights(np.ones((4, 12), int), 0.01)], name="fc", transB=1)
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "fc", "Gemm", "H = W <= 7"


def bad_fc_too_large():
    g, x, rng = base()
    f = g.node("Flatten", [x], name="flat")
    y = g.node("Gemm", [f, g.weights(np.ones((4, 192), int), 0.01)], name="fc", transB=1)
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "fc", "Gemm", "H = W <= 7"


def bad_float_weights():
    g, x, rng = base()
    w = g.const(np.ones((4, 3, 3, 3), np.float32))
    y = g.node("Conv", [x, w], name="fw")
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "fw", "Conv", "float initializer"


def bad_float16():
    g = Graph()
    g.inputs.append(helper.make_tensor_value_info("x", T.FLOAT16, ["N", 3, 8, 8]))
    s = g.const(np.float16(0.1))
    z = g.const(0, T.INT8)
    q = g.node("QuantizeLinear", ["x", s, z], name="q16")
    return g.model(q, elem=T.INT8), "q16", "QuantizeLinear", "float16"


def bad_dynamic_weights():
    g, x, rng = base()
    g.inputs.append(helper.make_tensor_value_info("w", T.INT8, [4, 3, 3, 3]))
    s, z = g.const(np.float32(0.01)), g.const(0, T.INT8)
    w = g.node("DequantizeLinear", ["w", s, z], name="dqw")
    y = g.node("Conv", [x, w], name="dyn")
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "dyn", "Conv", "dynamic weights"


def bad_clip_bounds():
    g, x, rng = base()
    g.inputs.append(helper.make_tensor_value_info("lo", T.FLOAT, []))
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1, out_q=False)
    y = g.node("Clip", [y, "lo"], name="clip")
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "clip", "Clip", "must be a constant"


def bad_two_outputs():
    g, x, rng = base()
    a = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1, name="c1")
    b = conv_layer(g, g.dq(a, 0.1, "int8"), 4, 4, 1, rng, "int8", 0.1, 0.1, name="c2")
    return (g.model(b, elem=T.INT8, outputs=[b, a]), "q_c1", "QuantizeLinear",
            "second graph output")


def bad_two_consumers():
    g, x, rng = base()
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1, out_q=False)
    a = g.q(y, 0.1, "int8", name="q_a")
    g.q(g.node("Relu", [y], name="relu"), 0.1, "int8", name="q_b")
    return g.model(a, elem=T.INT8), "q_a", "QuantizeLinear", "also read by node 'relu'"


def bad_sigmoid_scale():
    g, x, rng = base()
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.01, act="Sigmoid")
    return g.model(y, elem=T.INT8), "act", "Sigmoid", "exact only with an output scale of 1"


def bad_int4_opset():
    g = Graph(opset=19, ir=10)
    g.inputs.append(helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 8, 8]))
    q = g.q("x", 0.1, "int4", name="q4")
    return g.model(q, elem=T.INT4), "q4", "QuantizeLinear", "needs opset 21"


def bad_pool_rescale():
    g, x, rng = base()
    y = g.node("MaxPool", [x], name="mp", kernel_shape=[2, 2], strides=[2, 2])
    return (g.model(g.q(y, 0.2, "int8"), elem=T.INT8), "mp", "MaxPool",
            "keeps the type and the scale")


def bad_avgpool_pads():
    g, x, rng = base()
    y = g.node("AveragePool", [x], name="ap", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "ap", "AveragePool", "no padding"


def bad_missing_quantize():
    g, x, rng = base()
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1, out_q=False)
    return g.model(y), "conv", "Conv", "missing QuantizeLinear"


def bad_batch():
    g = Graph()
    g.inputs.append(helper.make_tensor_value_info("x", T.FLOAT, [2, 3, 8, 8]))
    q = g.q("x", 0.1, "int8", name="qb")
    return g.model(q, elem=T.INT8), "qb", "QuantizeLinear", "batch dimension"


def bad_table_gelu_tanh():
    g = Graph(opset=20, ir=9)
    x = g.input((3, 8, 8), 0.1, "int8")
    rng = np.random.default_rng(1)
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 1.0, act="Gelu", approximate="tanh")
    return g.model(y, elem=T.INT8), "act", "Gelu", "approximate='tanh'"


def bad_kernel_over_input():
    g = Graph()
    x = g.input((3, 5, 5), 0.1, "int8")
    y = g.node("Conv", [x, g.weights(np.ones((4, 3, 7, 7), int), 0.01)], name="big")
    return g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "big", "Conv", "smaller than the kernel"


def bad_scale_spread():
    g, x, rng = base()
    s_w = np.array([1e-12, 1, 1, 1], np.float32)
    y = g.node("Conv", [x, g.weights(np.ones((4, 3, 3, 3), int), s_w)], name="spread")
    return (g.model(g.q(y, 0.1, "int8"), elem=T.INT8), "spread", "Conv",
            "cannot all be normal binary16 scales")


def bad_integer_input():
    g = Graph()
    g.inputs.append(helper.make_tensor_value_info("x", T.INT8, ["N", 3, 5, 5]))
    d = g.dq("x", 0.1, "int8", name="dq_in")
    y = conv_layer(g, d, 3, 4, 3, np.random.default_rng(1), "int8", 0.1, 0.1)
    return g.model(y, elem=T.INT8), "dq_in", "DequantizeLinear", "must be float32"


BAD = [bad_unsupported_op, bad_zero_point, bad_dilation, bad_group, bad_pads, bad_ceil_mode,
       bad_per_channel_activation, bad_quantize_before_add, bad_residual_ratio,
       bad_weight_range, bad_weight_precision, bad_fc_not_square, bad_fc_too_large,
       bad_float_weights, bad_float16, bad_dynamic_weights, bad_clip_bounds,
       bad_two_outputs, bad_two_consumers, bad_sigmoid_scale, bad_int4_opset, bad_pool_rescale,
       bad_avgpool_pads, bad_missing_quantize, bad_batch, bad_table_gelu_tanh,
       bad_kernel_over_input, bad_scale_spread, bad_integer_input]


@pytest.mark.parametrize("make", BAD, ids=[f.__name__[4:] for f in BAD])
def test_rejected(make):
    model, node, op, reason = make()
    with pytest.raises(OnnxImportError) as e:
        import_onnx(model)
    msg = str(e.value)
    assert f"node {node!r} ({op})" in msg, msg
    assert reason in msg, msg


def test_rejected_corrupt_file(tmp_path):
    g, x, rng = base()
    y = conv_layer(g, x, 3, 4, 3, rng, "int8", 0.1, 0.1)
    data = g.model(y, elem=T.INT8).SerializeToString()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(OnnxImportError, match="corrupt or truncated"):
        import_onnx(path)
    with pytest.raises(OnnxImportError, match="corrupt or truncated"):
        import_onnx(b"\x08\x07garbage\xff\xff")


def test_rejections_are_value_errors():
    assert issubclass(OnnxImportError, ValueError)

"""ONNX export of the trained network: the float model, and the quantized ones in the
standard QDQ form (``onnx`` package only), plus an onnxruntime runner.

Quantized graph (NCHW; every QuantizeLinear/DequantizeLinear with zero point 0 of the
tensor's integer type; weights per output channel, axis 0)::

    x (float, N x 1 x 8 x 8, pixel / 16)
      -> QuantizeLinear(x_scale, uint<b>) -> DequantizeLinear              input
    conv1:  Conv(x', DQ(int<b> W1), float B1, pads 1) -> Relu -> Q(uint) -> DQ   = a1
    conv2:  Conv(a1, DQ(W2), B2) -> Relu -> Q -> DQ                             = a2
    conv3:  Conv(a2, DQ(W3), B3) -> Add(., a1) -> Relu -> Q -> DQ               = a3
            (no QuantizeLinear between Conv and Add: the machine adds the residual
            before it requantizes)
    MaxPool(a3, 2 x 2, stride 2) -> Q -> DQ                                     = p
    Flatten(p) -> Gemm(., DQ(int<b> Wfc), float Bfc, transB=1) -> Q(int8) -> DQ = logits

The float biases are the machine's binary16 biases times the output step (exact), the
weight scales binary16 values and the activation scales powers of two, so an importer
recovers the machine's per-channel scale and bias exactly. The opset is the lowest the
types need: 13 (8 bits), 21 (int4/uint4), 25 (int2/uint2).
"""

import numpy as np

__all__ = ["export_float", "export_quantized", "run_onnxruntime", "opset_for"]

_TYPES = {(8, True): "INT8", (8, False): "UINT8", (4, True): "INT4", (4, False): "UINT4",
          (2, True): "INT2", (2, False): "UINT2"}


def opset_for(bits):
    """The lowest ONNX opset whose QuantizeLinear/DequantizeLinear take every width in
    ``bits``."""
    bits = set(bits)
    return 25 if 2 in bits else 21 if 4 in bits else 13


def _model(nodes, inits, opset, name):
    from onnx import TensorProto, checker, helper
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="openpole sw.qat")
    # The IR version of the opset (onnx's newest IR otherwise, which older runtimes refuse).
    model.ir_version = min(helper.find_min_ir_version_for([model.opset_import[0]]),
                           model.ir_version)
    checker.check_model(model, full_check=True)
    return model


def _float_init(name, values):
    from onnx import numpy_helper
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def _int_init(name, values, bits, signed):
    from onnx import TensorProto, helper
    values = np.asarray(values, dtype=np.int64)
    dtype = getattr(TensorProto, _TYPES[(bits, signed)])
    return helper.make_tensor(name, dtype, list(values.shape), values.ravel().tolist())


def export_float(net):
    """The float network (``net`` a :class:`~sw.qat.model.DigitsNet`) as an ONNX model
    (opset 13)."""
    from onnx import helper
    p = net.params
    inits = [_float_init(k, p[k]) for k in ("w1", "b1", "w2", "b2", "w3", "b3", "wf", "bf")]
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["conv1"], name="conv1", **conv),
        helper.make_node("Relu", ["conv1"], ["a1"], name="relu1"),
        helper.make_node("Conv", ["a1", "w2", "b2"], ["conv2"], name="conv2", **conv),
        helper.make_node("Relu", ["conv2"], ["a2"], name="relu2"),
        helper.make_node("Conv", ["a2", "w3", "b3"], ["conv3"], name="conv3", **conv),
        helper.make_node("Add", ["conv3", "a1"], ["add3"], name="add3"),
        helper.make_node("Relu", ["add3"], ["a3"], name="relu3"),
        helper.make_node("MaxPool", ["a3"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["logits"], name="fc", transB=1),
    ]
    return _model(nodes, inits, 13, "digits_float")


def export_quantized(qnet):
    """``qnet`` (a :class:`~sw.qat.model.QuantizedNet`) as an ONNX QDQ model."""
    from onnx import helper
    nodes, inits = [], []

    def qdq(src, name, step, bits, signed):
        """Q then DQ of tensor ``src`` into tensor ``name`` (one scale, zero point 0)."""
        inits.append(_float_init(name + ".scale", step))
        inits.append(_int_init(name + ".zero_point", 0, bits, signed))
        args = [name + ".scale", name + ".zero_point"]
        nodes.append(helper.make_node("QuantizeLinear", [src] + args, [name + ".q"],
                                      name=name + ".quantize"))
        nodes.append(helper.make_node("DequantizeLinear", [name + ".q"] + args, [name],
                                      name=name + ".dequantize"))

    def weights(q):
        """DQ of the layer's integer weights, per output channel; its float bias."""
        w = q.name + ".weight"
        inits.append(_int_init(w + ".q", q.weights, q.bits, True))
        inits.append(_float_init(w + ".scale", q.w_step))
        inits.append(_int_init(w + ".zero_point", np.zeros(len(q.weights)), q.bits, True))
        nodes.append(helper.make_node("DequantizeLinear",
                                      [w + ".q", w + ".scale", w + ".zero_point"], [w],
                                      name=w + ".dequantize", axis=0))
        inits.append(_float_init(q.name + ".bias", q.bias.astype(np.float64) * q.out_step))
        return w, q.name + ".bias"

    qdq("x", "x.dq", qnet.input_step, qnet.input_bits, False)
    src = "x.dq"
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    for q, out in zip(qnet.layers[:3], ("a1", "a2", "a3"), strict=True):
        w, b = weights(q)
        nodes.append(helper.make_node("Conv", [src, w, b], [q.name], name=q.name, **conv))
        pre = q.name
        if q.residual:
            nodes.append(helper.make_node("Add", [q.name, q.residual], [q.name + ".add"],
                                          name=q.name + ".add"))
            pre = q.name + ".add"
        nodes.append(helper.make_node("Relu", [pre], [q.name + ".relu"],
                                      name=q.name + ".relu"))
        qdq(q.name + ".relu", out, q.out_step, q.out_bits, False)
        src = out
    a3 = qnet.layers[2]
    nodes.append(helper.make_node("MaxPool", ["a3"], ["pool"], name="pool",
                                  kernel_shape=[2, 2], strides=[2, 2]))
    qdq("pool", "p", a3.out_step, a3.out_bits, False)
    nodes.append(helper.make_node("Flatten", ["p"], ["flat"], name="flatten", axis=1))
    fc = qnet.layers[3]
    w, b = weights(fc)
    nodes.append(helper.make_node("Gemm", ["flat", w, b], ["fc"], name="fc", transB=1))
    qdq("fc", "logits", fc.out_step, fc.out_bits, True)
    bits = {qnet.input_bits} | {q.bits for q in qnet.layers} | {q.out_bits for q in qnet.layers}
    return _model(nodes, inits, opset_for(bits), f"digits_{qnet.config}")


def run_onnxruntime(model, x, optimize=False):
    """``model``'s outputs for ``x`` under onnxruntime's CPU provider (float32 logits).

    ``optimize=False`` disables the graph optimizations, so each QuantizeLinear and
    DequantizeLinear runs as specified (the reference QDQ semantics); with them onnxruntime
    may fuse Q/DQ pairs into its integer kernels."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"x": np.asarray(x, dtype=np.float32)})[0]

"""Import a quantized ONNX model (QDQ form) as a :class:`~sw.compiler_stub.network.Network`.

The model is read as QuantizeLinear / DequantizeLinear nodes around float operators, the
form onnxruntime's ``quantize_static(quant_format=QuantFormat.QDQ)`` and quantization-
aware trainers export. Every QuantizeLinear output is one of the network's integer tensors;
each chain of float operators between DequantizeLinear inputs and one QuantizeLinear
becomes one layer in the machine's numerics (docs/network.md lists the patterns, how the
scales become ``shift``, ``scale`` and ``bias``, and the rejection rules).

Anything the machine cannot run exactly as the ONNX graph says (up to the machine's
documented binary16 roundings) is rejected with an :class:`OnnxImportError` whose message
names the node, its operator and the reason; nothing is approximated silently.
"""

import math
import os
from dataclasses import dataclass, replace

import numpy as np

from rtl.spec.codes import AfuOp
from sw.golden import fp16
from sw.golden.layers import Conv2d, Pool2d

from .network import ConvNode, Network, NetworkError, PoolNode, Tensor

__all__ = ["OnnxImportError", "import_onnx"]


class OnnxImportError(ValueError):
    """A model the machine cannot run; the message names the node, operator and reason."""


FP16_MAX = 65504.0
FP16_MIN_NORMAL = 2.0 ** -14

# Operators the importer knows (anything else is rejected as unsupported).
_ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Exp"}
_POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
_VIEWS = {"Flatten", "Reshape"}
_SUPPORTED = ({"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "MatMul", "Add",
               "Constant"} | _ACTIVATIONS | _POOLS | _VIEWS)

# Integer types of the zero point (the tensor's type): TensorProto code -> (bits, signed,
# first default-domain opset that quantizes to it).
_INT_TYPES = {2: (8, False, 10), 3: (8, True, 10), 21: (4, False, 21), 22: (4, True, 21),
              25: (2, False, 25), 26: (2, True, 25)}
_TYPE_NAMES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
               7: "int64", 10: "float16", 11: "float64", 16: "bfloat16", 21: "uint4",
               22: "int4", 25: "uint2", 26: "int2"}

# Activations that commute with a positive scaling: the machine applies them to the value
# in output units (real value / output scale).
_SCALE_FREE = {"Relu", "Clip", "LeakyRelu"}
_TABLE_OPS = {"Sigmoid": AfuOp.SIGMOID, "Tanh": AfuOp.TANH, "Gelu": AfuOp.GELU,
              "Exp": AfuOp.EXP}


def _type_name(code):
    return _TYPE_NAMES.get(code, f"type {code}")


def _label(node):
    return f"node {node.name or node.output[0]!r} ({node.op_type})"


def _fail(node, reason):
    raise OnnxImportError(f"{_label(node)}: {reason}")


@dataclass
class _Q:
    """An integer ONNX value: the IR tensor it is, and its ONNX layout ("nchw" for
    (N, C, H, W), "flat" for (N, C*H*W) flattened in C, H, W order)."""
    tensor: str
    layout: str


@dataclass
class _F:
    """A float ONNX value that is an IR tensor dequantized with ``scale``."""
    tensor: str
    layout: str
    scale: float
    dq: object  # the DequantizeLinear node


def _load(model):
    import onnx
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        data = bytes(model)
    elif isinstance(model, (str, os.PathLike)):
        try:
            with open(model, "rb") as f:
                data = f.read()
        except OSError as e:
            raise OnnxImportError(f"cannot read the model file {model}: {e}") from None
    else:
        raise TypeError(f"model must be a path, bytes or an onnx.ModelProto, not "
                        f"{type(model).__name__}")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise OnnxImportError(f"the model is not a readable ONNX file (corrupt or "
                              f"truncated): {e}") from None
    if not proto.graph.node:
        raise OnnxImportError("the model is not a readable ONNX file (corrupt or truncated): "
                              "it has no graph nodes")
    return proto


def import_onnx(model, *, name=None):
    """The :class:`Network` of a QDQ ONNX model.

    Parameters
    ----------
    model : str, os.PathLike, bytes or onnx.ModelProto
    name : str or None
        The network's name (default: the graph's name).

    Raises
    ------
    OnnxImportError
        If the model cannot be read or holds anything the machine cannot run exactly;
        the message names the node, its operator and the reason.
    """
    return _Importer(_load(model), name).run()


class _Importer:
    def __init__(self, model, name):
        import onnx
        self.onnx = onnx
        self.model = model
        self.graph = model.graph
        self.name = name or self.graph.name or "network"
        self.opset = None
        for op in model.opset_import:
            if op.domain in ("", "ai.onnx"):
                self.opset = op.version
        if self.opset is None:
            raise OnnxImportError("the model imports no default-domain (ai.onnx) opset")

    # ----------------------------------------------------------------- graph helpers

    def run(self):
        g = self.graph
        if g.sparse_initializer:
            raise OnnxImportError("sparse initializers are not supported")
        self.consts = {t.name: self._array(t) for t in g.initializer}
        self.const_types = {t.name: t.data_type for t in g.initializer}
        self.nodes = self._sorted(list(g.node))
        self.used = set()          # ids of nodes accounted for
        for node in self.nodes:
            if node.domain not in ("", "ai.onnx"):
                _fail(node, f"operator domain {node.domain!r} is not supported (only the "
                            f"default ONNX domain)")
            if node.op_type not in _SUPPORTED:
                _fail(node, f"unsupported operator {node.op_type}: the machine runs "
                            f"Conv, Gemm/MatMul, pooling and {sorted(_ACTIVATIONS)} in QDQ "
                            f"form")
            if node.op_type == "Constant":
                self._constant(node)
        self.producer, self.consumers = {}, {}
        for node in self.nodes:
            for o in node.output:
                if o:
                    self.producer[o] = node
            for i in node.input:
                if i:
                    self.consumers.setdefault(i, []).append(node)
        self.outputs = [o.name for o in g.output]
        self._shape_inference()
        self.qvals = {}            # integer ONNX value -> _Q
        self.tensors = {}          # IR tensor name -> Tensor
        self.made_by = {}          # IR tensor name -> index in self.ir_nodes
        self.ir_nodes = []
        self._input()
        for node in self.nodes:
            if id(node) in self.used or node.op_type == "Constant":
                continue
            op = node.op_type
            if op == "QuantizeLinear" and node.input[0] in self.consts:
                continue  # quantized weights: folded where a layer reads them
            try:
                if op == "QuantizeLinear":
                    self._quantize(node)
                elif op in ("MaxPool", "Flatten", "Reshape") and node.input[0] in self.qvals:
                    self._integer_op(node)
            except OnnxImportError:
                raise
            except (ValueError, TypeError, IndexError) as e:  # e.g. a layer's own checks
                _fail(node, f"cannot be mapped: {e}")
        self._leftovers()
        network = self._finish()
        self._validate()
        return network

    def _sorted(self, nodes):
        known = {i.name for i in self.graph.input} | set(self.consts) | {""}
        order, pending = [], list(nodes)
        while pending:
            rest = []
            for node in pending:
                if all(i in known for i in node.input):
                    order.append(node)
                    known.update(node.output)
                else:
                    rest.append(node)
            if len(rest) == len(pending):
                missing = [i for i in rest[0].input if i not in known]
                _fail(rest[0], f"input {missing[0]!r} is produced by no node, initializer "
                               f"or graph input (or the graph has a cycle)")
            pending = rest
        return order

    def _int_type(self, node, ztype):
        """``(bits, signed)`` of quantized type ``ztype`` (one of ``_INT_TYPES``), which
        ``node`` uses: the model's opset must have it."""
        bits, signed, opset = _INT_TYPES[ztype]
        if self.opset < opset:
            _fail(node, f"{_type_name(ztype)} needs opset {opset} or later, the model imports "
                        f"opset {self.opset}")
        return bits, signed

    def _array(self, t):
        from onnx import numpy_helper
        try:
            a = numpy_helper.to_array(t)
        except Exception as e:
            raise OnnxImportError(f"initializer {t.name!r} cannot be read: {e}") from None
        if t.data_type in _INT_TYPES:  # int4/int2 and friends: plain integers
            a = a.astype(np.int64)
        return a

    def _constant(self, node):
        attrs = {a.name: a for a in node.attribute}
        if "value" not in attrs:
            _fail(node, "only Constant nodes with a tensor 'value' are supported")
        t = attrs["value"].t
        self.consts[node.output[0]] = self._array(t)
        self.const_types[node.output[0]] = t.data_type
        self._mark(node)

    def _shape_inference(self):
        """Types and shapes of every value (lenient here: the per-node checks give the
        precise reasons; :meth:`_validate` runs the checker and strict inference last)."""
        try:
            inferred = self.onnx.shape_inference.infer_shapes(self.model)
        except Exception as e:
            raise OnnxImportError(f"ONNX shape inference fails on the model: "
                                  f"{str(e).strip().splitlines()[-1]}") from None
        self.types = {}
        self.shapes = {}
        g = inferred.graph
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            tt = vi.type.tensor_type
            self.types[vi.name] = tt.elem_type
            if tt.HasField("shape"):
                self.shapes[vi.name] = tuple(
                    d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)

    def _validate(self):
        """Strict, type-checking shape inference on a model that otherwise maps."""
        try:
            self.onnx.shape_inference.infer_shapes(self.model, check_type=True,
                                                   strict_mode=True)
        except Exception as e:
            lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
            raise OnnxImportError(f"the model is not valid ONNX (strict shape inference): "
                                  f"{lines[-1] if lines else e}") from None

    def _mark(self, *nodes):
        for n in nodes:
            self.used.add(id(n))

    def _only_consumer(self, value, node, what):
        """``value`` (a float intermediate) must be read by ``node`` alone."""
        users = self.consumers.get(value, [])
        if value in self.outputs or len(users) != 1:
            readers = ", ".join(_label(u) for u in users if u is not node) or "a graph output"
            _fail(node, f"its input {value!r} ({what}) is also read by {readers}: the machine "
                        f"computes a layer's float intermediates inside the layer, so only "
                        f"one consumer can see them")

    def _attrs(self, node):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _const(self, node, value, what):
        if value not in self.consts:
            src = self.producer.get(value)
            how = (f"the output of {_label(src)}" if src is not None else
                   f"graph input {value!r}")
            _fail(node, f"{what} must be a constant (initializer or Constant), not {how}")
        return self.consts[value]

    # ------------------------------------------------------------- quantization params

    def _qparams(self, node):
        """(bits, signed, scale) of a QuantizeLinear/DequantizeLinear with a scalar scale
        and a zero zero point."""
        attrs = self._attrs(node)
        if attrs.get("block_size", 0):
            _fail(node, "blocked quantization (block_size) is not supported")
        scale_name = node.input[1]
        scale = self._const(node, scale_name, "the scale")
        stype = self.const_types[scale_name]
        if stype != 1:
            _fail(node, f"the scale is {_type_name(stype)}: only float32 scales (and float32 "
                        f"models) are supported")
        if scale.size != 1:
            _fail(node, f"per-channel activation scale (shape {scale.shape}): the machine's "
                        f"tensors have one scale")
        s = float(scale.reshape(()))
        if not (np.isfinite(s) and s > 0):
            _fail(node, f"the scale {s!r} must be a positive finite number")
        zp_name = node.input[2] if len(node.input) > 2 else ""
        if zp_name:
            zp = self._const(node, zp_name, "the zero point")
            ztype = self.const_types[zp_name]
            if zp.size != 1:
                _fail(node, f"per-channel activation zero point (shape {zp.shape}) is not "
                            f"supported")
            if np.any(zp != 0):
                _fail(node, f"non-zero zero point {int(zp.reshape(()))}: the machine's "
                            f"tensors have zero point 0")
        else:
            ztype = attrs.get("output_dtype", 0) or 2  # ONNX's default: uint8
            if node.op_type == "DequantizeLinear":
                ztype = self.types.get(node.input[0], ztype)
        if ztype not in _INT_TYPES:
            _fail(node, f"quantized type {_type_name(ztype)} is not supported (int8, uint8, "
                        f"int4, uint4, int2, uint2)")
        bits, signed = self._int_type(node, ztype)
        return bits, signed, s

    # ------------------------------------------------------------------------ input

    def _input(self):
        g = self.graph
        inputs = [i for i in g.input if i.name not in self.consts]
        if not inputs:
            raise OnnxImportError("the graph has no input")
        x = inputs[0]
        self.extra_inputs = [i.name for i in inputs[1:]]
        users = self.consumers.get(x.name, [])
        if not users:
            raise OnnxImportError(f"the graph input {x.name!r} is read by no node")
        q = users[0]
        if len(users) != 1 or q.op_type != "QuantizeLinear":
            bad = next((u for u in users if u.op_type != "QuantizeLinear"), users[1]
                       if len(users) > 1 else q)
            _fail(bad, f"reads the graph input {x.name!r}: the input must be float32 and go "
                       f"to one QuantizeLinear (missing QDQ)")
        et = x.type.tensor_type.elem_type
        if et != 1:
            _fail(q, f"the graph input {x.name!r} is {_type_name(et)}: only float32 models "
                     f"are supported")
        dims = x.type.tensor_type.shape.dim
        if len(dims) != 4:
            _fail(q, f"the graph input {x.name!r} must be (N, C, H, W), not rank {len(dims)}")
        n = dims[0]
        if n.HasField("dim_value") and n.dim_value != 1:
            _fail(q, f"the graph input's batch dimension must be 1 or symbolic, not "
                     f"{n.dim_value}")
        chw = []
        for d, what in zip(dims[1:], "CHW", strict=True):
            if not d.HasField("dim_value") or d.dim_value < 1:
                _fail(q, f"the graph input {x.name!r} needs a static {what} dimension")
            chw.append(d.dim_value)
        c, hh, ww = chw
        bits, signed, s = self._qparams(q)
        t = Tensor(q.output[0], (hh, ww, c), bits, signed, s)
        self.tensors[t.name] = t
        self.qvals[q.output[0]] = _Q(t.name, "nchw")
        self.input = t
        self._mark(q)

    # ------------------------------------------------------------ dequantized values

    def _dq(self, node, value, what="its input"):
        """The :class:`_F` of a float ``value`` that must be a DequantizeLinear output."""
        src = self.producer.get(value)
        if src is None or src.op_type != "DequantizeLinear":
            how = (f"the output of {_label(src)}" if src is not None else
                   f"graph input {value!r}" if value not in self.consts else
                   f"float initializer {value!r}")
            _fail(node, f"{what} {value!r} is {how}, not a DequantizeLinear of a quantized "
                        f"tensor (missing QDQ)")
        q = src.input[0]
        if q not in self.qvals:
            if q in self.consts:
                _fail(node, f"{what} {value!r} dequantizes the initializer {q!r}: activations "
                            f"must be quantized tensors of the network")
            qsrc = self.producer.get(q)
            how = f"the output of {_label(qsrc)}" if qsrc is not None else f"graph input {q!r}"
            _fail(node, f"{what} {value!r} dequantizes {how}, which is not a quantized "
                        f"tensor the machine computes")
        bits, signed, s = self._qparams(src)
        qv = self.qvals[q]
        t = self.tensors[qv.tensor]
        if (bits, signed) != (t.bits, t.signed):
            _fail(src, f"dequantizes {q!r} as {bits}-bit "
                       f"{'signed' if signed else 'unsigned'}, but it is {t.bits}-bit "
                       f"{'signed' if t.signed else 'unsigned'}")
        self._mark(src)
        return _F(qv.tensor, qv.layout, s, src)

    def _float_view(self, node, value, what="its input"):
        """A DequantizeLinear output, possibly through float Flatten/Reshape nodes."""
        src = self.producer.get(value)
        if src is not None and src.op_type in _VIEWS:
            self._only_consumer(value, node, f"the output of {src.op_type}")
            f = self._float_view(src, src.input[0])
            self._check_flatten(src, self.tensors[f.tensor], f.layout)
            self._mark(src)
            return _F(f.tensor, "flat", f.scale, f.dq)
        return self._dq(node, value, what)

    # ------------------------------------------------------------------- flattening

    def _check_flatten(self, node, t, layout):
        """``node`` (Flatten or Reshape) must turn (N, C, H, W) into (N, C*H*W)."""
        h, w, c = t.shape
        size = h * w * c
        attrs = self._attrs(node)
        if node.op_type == "Flatten":
            if attrs.get("axis", 1) != 1:
                _fail(node, f"axis {attrs['axis']}: only Flatten with axis 1 (to (N, C*H*W)) "
                            f"is supported")
            return
        target = self._const(node, node.input[1], "the target shape")
        target = [int(v) for v in np.asarray(target).ravel()]
        if attrs.get("allowzero", 0) and 0 in target:
            _fail(node, "allowzero with a zero in the target shape is not supported")
        ok = (len(target) == 2 and target[0] in (0, 1, -1) and
              (target[1] == size or target[1] == -1 and target[0] != -1))
        if not ok:
            _fail(node, f"target shape {target}: only a reshape of (N, C, H, W) to "
                        f"(N, C*H*W) = (N, {size}) is supported")
        del layout

    def _integer_op(self, node):
        """MaxPool, Flatten or Reshape on an integer tensor (quantized domain)."""
        qv = self.qvals[node.input[0]]
        t = self.tensors[qv.tensor]
        if node.op_type == "MaxPool":
            if qv.layout != "nchw":
                _fail(node, "pooling needs an (N, C, H, W) tensor")
            pool = self._pool(node, t)
            out = Tensor(node.output[0], pool.out_size(*t.shape[:2]) + (t.shape[2],),
                         t.bits, t.signed, t.scale)
            self._add_node(PoolNode(node.name or out.name, pool, t.name, out))
            self.tensors[out.name] = out
            self.qvals[out.name] = _Q(out.name, "nchw")
        else:
            self._check_flatten(node, t, qv.layout)
            self.qvals[node.output[0]] = _Q(t.name, "flat")
        self._mark(node)

    # ----------------------------------------------------------------- QuantizeLinear

    def _quantize(self, q):
        v = q.input[0]
        src = self.producer.get(v)
        if src is None:
            if v in self.consts:
                _fail(q, f"quantizes the float initializer {v!r}: weights must be integer "
                         f"initializers read through DequantizeLinear")
            _fail(q, f"quantizes graph input {v!r}, which is not the network's input")
        bits, signed, s_y = self._qparams(q)
        out = (q.output[0], bits, signed, s_y)
        self._only_consumer(v, q, f"the output of {src.op_type}")
        act = None
        if src.op_type in _ACTIVATIONS:
            act = src
            v = act.input[0]
            src = self.producer.get(v)
            if src is None:
                _fail(act, f"its input {v!r} is not computed by the network (missing QDQ)")
            self._only_consumer(v, act, f"the output of {src.op_type}")
        op = src.op_type
        if op in ("Conv", "Gemm", "MatMul", "Add"):
            self._layer(src, act, q, out)
        elif op == "DequantizeLinear":
            self._requantize(act or q, src, act, q, out)
        elif op in _POOLS:
            if act is not None:
                _fail(act, f"an activation after {_label(src)} cannot be mapped: the "
                           f"machine's pooling has no activation")
            self._float_pool(src, q, out)
        elif op in _VIEWS:
            if act is not None:
                _fail(act, "an activation after a Flatten/Reshape cannot be mapped")
            self._float_flatten(src, q, out)
        elif op in ("QuantizeLinear",):
            _fail(q, f"quantizes an integer tensor {v!r}")
        else:
            _fail(src, f"its output reaches {_label(q)} but {op} cannot produce a "
                       f"quantized tensor here")
        self._mark(q)
        if act is not None:
            self._mark(act)

    def _new_tensor(self, q, out, shape, layout):
        name, bits, signed, s = out
        t = Tensor(name, tuple(int(v) for v in shape), bits, signed, s)
        inferred = self.shapes.get(name)
        if inferred is not None and all(d is not None for d in inferred[1:]):
            want = (1, t.shape[2], t.shape[0], t.shape[1]) if layout == "nchw" else \
                (1, t.shape[0] * t.shape[1] * t.shape[2])
            if len(inferred) != len(want) or tuple(inferred[1:]) != want[1:]:
                _fail(q, f"ONNX shape inference gives {inferred}, the importer {want}")
        self.tensors[name] = t
        self.qvals[name] = _Q(name, layout)
        return t

    def _add_node(self, node):
        self.made_by[node.output.name] = len(self.ir_nodes)
        self.ir_nodes.append(node)

    # ------------------------------------------------------------------------ pooling

    def _pool(self, node, t):
        h, w, c = t.shape
        attrs = self._attrs(node)
        op = node.op_type
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            if h != w or h > 7:
                _fail(node, f"a global pool over {h} x {w} needs a square input of at most "
                            f"7 x 7 (the pool's largest kernel)")
            return Pool2d(c, kernel=h, stride=1, kind="avg" if "Average" in op else "max",
                          bits=t.bits, signed=t.signed, name=node.name or node.output[0])
        if len(node.output) > 1 and node.output[1]:
            _fail(node, "the Indices output is not supported")
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID", "NOTSET", "VALID"):
            _fail(node, f"auto_pad {attrs['auto_pad']!r} is not supported (pads must be 0)")
        k = list(attrs.get("kernel_shape", []))
        if len(k) != 2 or k[0] != k[1]:
            _fail(node, f"kernel_shape {k}: only square 2-D kernels are supported")
        if k[0] > 7:
            _fail(node, f"kernel {k[0]} is larger than 7")
        strides = list(attrs.get("strides", [1, 1]))
        if len(strides) != 2 or strides[0] != strides[1]:
            _fail(node, f"strides {strides}: only equal strides are supported")
        if any(attrs.get("pads", [0] * 4)):
            _fail(node, f"pads {list(attrs['pads'])}: the machine's pooling has no padding")
        if attrs.get("ceil_mode", 0):
            _fail(node, "ceil_mode 1 is not supported (only floor)")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            _fail(node, f"dilations {list(attrs['dilations'])} are not supported")
        if attrs.get("storage_order", 0):
            _fail(node, "storage_order 1 is not supported")
        if k[0] > min(h, w):
            _fail(node, f"kernel {k[0]} is larger than the {h} x {w} input")
        return Pool2d(c, kernel=k[0], stride=strides[0],
                      kind="max" if op == "MaxPool" else "avg", bits=t.bits,
                      signed=t.signed, name=node.name or node.output[0])

    def _float_pool(self, node, q, out):
        x = self._dq(node, node.input[0])
        t = self.tensors[x.tensor]
        if x.layout != "nchw":
            _fail(node, "pooling needs an (N, C, H, W) tensor")
        _, bits, signed, s_y = out
        if (bits, signed) != (t.bits, t.signed) or x.scale != s_y:
            _fail(node, f"its input is {t.bits}-bit {'signed' if t.signed else 'unsigned'} "
                        f"with scale {x.scale!r} and its output {bits}-bit "
                        f"{'signed' if signed else 'unsigned'} with scale {s_y!r}: the "
                        f"machine's pooling keeps the type and the scale")
        pool = self._pool(node, t)
        o = self._new_tensor(q, out, pool.out_size(*t.shape[:2]) + (t.shape[2],), "nchw")
        self._add_node(PoolNode(node.name or o.name, pool, t.name, o))
        self._mark(node)

    def _float_flatten(self, node, q, out):
        x = self._dq(node, node.input[0])
        t = self.tensors[x.tensor]
        _, bits, signed, s_y = out
        if (bits, signed) != (t.bits, t.signed) or x.scale != s_y:
            _fail(node, f"its input scale {x.scale!r} and type differ from its output's "
                        f"({s_y!r}): a flatten cannot requantize")
        self._check_flatten(node, t, x.layout)
        self.qvals[q.output[0]] = _Q(t.name, "flat")
        self._mark(node)

    # ------------------------------------------------------------------ conv layers

    def _activation(self, act, s_y, bits, signed):
        """(AfuOp or None, p0, p1) for activation node ``act`` applied in output units."""
        if act is None:
            return None, 0, 0
        op = act.op_type
        attrs = self._attrs(act)
        if op == "Relu":
            return AfuOp.RELU, 0, 0
        if op == "LeakyRelu":
            alpha = float(attrs.get("alpha", 0.01))
            return AfuOp.LEAKY_RELU, int(fp16.from_float(alpha)), 0
        if op == "Clip":
            if self.opset < 11:
                lo, hi = attrs.get("min", -np.inf), attrs.get("max", np.inf)
            else:
                bounds = list(act.input[1:]) + ["", ""]
                lo = -np.inf if not bounds[0] else float(
                    np.asarray(self._const(act, bounds[0], "the min bound")).reshape(()))
                hi = np.inf if not bounds[1] else float(
                    np.asarray(self._const(act, bounds[1], "the max bound")).reshape(()))
            if not lo <= hi:
                _fail(act, f"min {lo} is above max {hi}")
            qmin, qmax = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else \
                (0, (1 << bits) - 1)
            lo_u, hi_u = lo / s_y, hi / s_y
            if lo_u <= qmin and hi_u >= qmax:
                return None, 0, 0  # the conversion's saturation is the clip
            p0 = fp16.NEG_INF if lo_u <= qmin else int(fp16.from_float(lo_u))
            p1 = fp16.POS_INF if hi_u >= qmax else int(fp16.from_float(hi_u))
            return AfuOp.CLAMP, int(p0), int(p1)
        # Table functions act on real values; the machine applies them to real / s_y.
        if op == "Gelu" and attrs.get("approximate", "none") not in ("none", b"none"):
            _fail(act, "Gelu with approximate='tanh' is not supported (the machine's GELU "
                       "is x * Phi(x))")
        if s_y != 1.0:
            _fail(act, f"{op} of the real value cannot be mapped with the output scale "
                       f"{s_y!r}: the machine applies the activation to the value in output "
                       f"units (real / scale) before converting, so {op} is exact only "
                       f"with an output scale of 1")
        return _TABLE_OPS[op], 0, 0

    def _layer(self, src, act, q, out):
        """Conv / Gemm / MatMul [+ bias Add] [+ residual Add], activation, quantize."""
        residual = None
        core = src
        if src.op_type == "Add" and not any(v in self.consts for v in src.input):
            add = src
            kinds = [self._add_operand(add, v) for v in add.input]
            if kinds.count("layer") != 1:
                self._add_not_residual(add, *add.input)
            main, other = add.input if kinds[0] == "layer" else add.input[::-1]
            core = self.producer[main]
            self._only_consumer(main, add, f"the output of {core.op_type}")
            residual = (self._dq(add, other, "the residual"), add)
            self._mark(add)
        if core.op_type == "Add":  # MatMul + constant bias
            add = core
            a, b = add.input
            mm_out, bias_name = (a, b) if b in self.consts else (b, a)
            mm = self.producer.get(mm_out)
            if mm is None or mm.op_type != "MatMul" or bias_name not in self.consts:
                _fail(add, "an Add of a constant is supported only as the bias of a MatMul")
            self._only_consumer(mm_out, add, "the output of MatMul")
            self._mark(add)
            self._matmul(mm, bias_name, add, residual, act, q, out)
        elif core.op_type == "Conv":
            self._conv(core, residual, act, q, out)
        elif core.op_type == "Gemm":
            self._gemm(core, residual, act, q, out)
        elif core.op_type == "MatMul":
            self._matmul(core, None, None, residual, act, q, out)
        else:
            _fail(core, "is not a layer the machine computes")

    def _add_operand(self, add, v):
        if v in self.consts:
            return "const"
        p = self.producer.get(v)
        if p is not None and p.op_type in ("Conv", "Gemm", "MatMul"):
            return "layer"
        if p is not None and p.op_type == "Add" and any(
                self.producer.get(i) is not None and self.producer[i].op_type == "MatMul"
                for i in p.input) and any(i in self.consts for i in p.input):
            return "layer"
        return "other"

    def _add_not_residual(self, add, a, b):
        for v in (a, b):
            p = self.producer.get(v)
            if p is not None and p.op_type == "DequantizeLinear":
                q = self.producer.get(p.input[0])
                if q is not None and q.op_type == "QuantizeLinear":
                    c = self.producer.get(q.input[0])
                    if c is not None and c.op_type in ("Conv", "Gemm", "MatMul"):
                        _fail(add, f"a QuantizeLinear ({_label(q)}) between {_label(c)} and "
                                   f"this Add cannot be mapped exactly: the machine adds the "
                                   f"residual to the layer's value before requantizing it")
        _fail(add, "an Add is supported only as a residual added to the float output of a "
                   "Conv/Gemm/MatMul (the other operand a DequantizeLinear of an earlier "
                   "tensor) or as a MatMul's constant bias")

    def _weights(self, node, value, out_axis):
        """(integers, per-output-channel scales or scalar, DequantizeLinear node)."""
        dq = self.producer.get(value)
        if dq is None or dq.op_type != "DequantizeLinear":
            if value in self.consts:
                _fail(node, f"its weights {value!r} are a float initializer: weights must be "
                            f"integers read through DequantizeLinear (missing QDQ)")
            how = f"graph input {value!r}" if dq is None else f"the output of {_label(dq)}"
            _fail(node, f"its weights are {how}: dynamic weights are not supported (weights "
                        f"must be a DequantizeLinear of an integer initializer)")
        w_name = dq.input[0]
        wq = self.producer.get(w_name)
        if wq is not None and wq.op_type == "QuantizeLinear" and wq.input[0] in self.consts:
            w_name = self._fold_quantize(wq)
        if w_name not in self.consts:
            how = (f"graph input {w_name!r}" if w_name not in self.producer else
                   f"the output of {_label(self.producer[w_name])}")
            _fail(node, f"its weights dequantize {how}: dynamic weights are not supported "
                        f"(weights must be an integer initializer)")
        wtype = self.const_types[w_name]
        if wtype not in _INT_TYPES or not _INT_TYPES[wtype][1]:
            _fail(node, f"its weights {w_name!r} are {_type_name(wtype)}: the machine's "
                        f"weights are signed int8, int4 or int2")
        w = self.consts[w_name]
        if w.ndim < 2 or w.ndim <= out_axis:
            _fail(node, f"weights of shape {w.shape}: a layer's weights have at least two "
                        f"dimensions")
        attrs = self._attrs(dq)
        if attrs.get("block_size", 0):
            _fail(dq, "blocked quantization (block_size) is not supported")
        sname = dq.input[1]
        scale = np.asarray(self._const(dq, sname, "the weight scale"))
        if self.const_types[sname] != 1:
            _fail(dq, f"the weight scale is {_type_name(self.const_types[sname])}: only "
                      f"float32 scales are supported")
        axis = attrs.get("axis", 1)
        if axis < 0:
            axis += w.ndim
        if scale.size == 1:
            scale = np.full(w.shape[out_axis], float(scale.reshape(())))
        elif scale.ndim != 1 or axis != out_axis or scale.size != w.shape[out_axis]:
            _fail(dq, f"weight scale of shape {scale.shape} on axis {attrs.get('axis', 1)}: "
                      f"per-channel scales must lie along the output channels (axis "
                      f"{out_axis})")
        scale = scale.astype(np.float64)
        if not np.all(np.isfinite(scale) & (scale > 0)):
            _fail(dq, "weight scales must be positive and finite")
        if len(dq.input) > 2 and dq.input[2]:
            zp = self._const(dq, dq.input[2], "the weight zero point")
            if np.any(zp != 0):
                _fail(dq, "non-zero weight zero point: the machine's weights have zero "
                          "point 0")
        self._only_consumer(value, node, "the dequantized weights")
        self._mark(dq)
        return w, scale, wtype

    def _fold_quantize(self, q):
        """QuantizeLinear of a float initializer (weights exported as float with a Q/DQ
        pair): the integers exactly as ONNX defines them, saturate(round_half_even(x /
        scale)) in float32, as a new integer constant."""
        x = np.asarray(self.consts[q.input[0]])
        if self.const_types[q.input[0]] != 1:
            _fail(q, f"quantizes a {_type_name(self.const_types[q.input[0]])} initializer: "
                     f"only float32 models are supported")
        attrs = self._attrs(q)
        if attrs.get("block_size", 0):
            _fail(q, "blocked quantization (block_size) is not supported")
        scale = np.asarray(self._const(q, q.input[1], "the scale"))
        if self.const_types[q.input[1]] != 1:
            _fail(q, "only float32 scales are supported")
        ztype = attrs.get("output_dtype", 0) or 2
        if len(q.input) > 2 and q.input[2]:
            zp = self._const(q, q.input[2], "the zero point")
            ztype = self.const_types[q.input[2]]
            if np.any(zp != 0):
                _fail(q, "non-zero weight zero point: the machine's weights have zero point 0")
        if ztype not in _INT_TYPES or not _INT_TYPES[ztype][1]:
            _fail(q, f"quantizes weights to {_type_name(ztype)}: the machine's weights are "
                     f"signed int8, int4 or int2")
        bits, _ = self._int_type(q, ztype)
        if scale.size != 1:
            axis = attrs.get("axis", 1)
            axis = axis + x.ndim if axis < 0 else axis
            shape = [1] * x.ndim
            shape[axis] = scale.size
            scale = scale.reshape(shape)
        with np.errstate(all="ignore"):
            v = np.rint(x.astype(np.float32) / scale.astype(np.float32))
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        name = q.output[0]
        self.consts[name] = np.clip(v, lo, hi).astype(np.int64)
        self.const_types[name] = ztype
        self._mark(q)
        return name

    def _bias(self, node, value, m):
        """The float64 bias (real units) of ``m`` channels, or zeros."""
        if not value:
            return np.zeros(m)
        if value in self.consts:
            t = self.const_types[value]
            if t != 1:
                _fail(node, f"its bias is {_type_name(t)}: the bias must be float32 or int32 "
                            f"through DequantizeLinear")
            b = np.asarray(self.consts[value], dtype=np.float64)
        else:
            dq = self.producer.get(value)
            if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.consts:
                _fail(node, f"its bias {value!r} must be a constant (float32, or int32 "
                            f"through DequantizeLinear)")
            bq = np.asarray(self.consts[dq.input[0]])
            if self.const_types[dq.input[0]] != 6:
                _fail(dq, "a quantized bias must be int32")
            s = np.asarray(self._const(dq, dq.input[1], "the bias scale"), dtype=np.float64)
            if len(dq.input) > 2 and dq.input[2]:
                if np.any(self._const(dq, dq.input[2], "the bias zero point") != 0):
                    _fail(dq, "non-zero bias zero point")
            try:
                b = bq.astype(np.float64) * (s if s.size == 1 else s.reshape(bq.shape))
            except ValueError:
                _fail(dq, f"bias scale of shape {s.shape} does not fit the bias {bq.shape}")
            self._only_consumer(value, node, "the dequantized bias")
            self._mark(dq)
        if b.size == 1:
            b = np.full(m, float(b.reshape(())))
        if b.size != m:
            _fail(node, f"its bias has {b.size} values for {m} output channels")
        return b.reshape(m)

    def _conv(self, node, residual, act, q, out):
        attrs = self._attrs(node)
        x = self._dq(node, node.input[0])
        t = self.tensors[x.tensor]
        if x.layout != "nchw":
            _fail(node, "a Conv needs an (N, C, H, W) input")
        h, wd, c = t.shape
        w, s_w, wtype = self._weights(node, node.input[1], 0)
        if w.ndim != 4:
            _fail(node, f"weights of shape {w.shape}: only 2-D convolutions are supported")
        m, cg, kh, kw = w.shape
        group = attrs.get("group", 1)
        if kh != kw:
            _fail(node, f"kernel {kh} x {kw}: only square kernels are supported")
        if list(attrs.get("kernel_shape", [kh, kw])) != [kh, kw]:
            _fail(node, "kernel_shape disagrees with the weights")
        if kh > 7:
            _fail(node, f"kernel {kh} is larger than 7")
        if group == 1:
            depthwise = False
            if cg != c:
                _fail(node, f"weights for {cg} input channels, the input has {c}")
        elif group == c and cg == 1 and m == c:
            depthwise = True
        else:
            _fail(node, f"group {group} with {m} output and {c} input channels: only group 1 "
                        f"or depthwise (group = channels, one output per channel) is "
                        f"supported")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            _fail(node, f"dilations {list(attrs['dilations'])}: only dilation 1 is supported")
        strides = list(attrs.get("strides", [1, 1]))
        if len(strides) != 2 or strides[0] != strides[1]:
            _fail(node, f"strides {strides}: only equal strides are supported")
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto not in ("NOTSET", "VALID"):
            _fail(node, f"auto_pad {auto} is not supported (give explicit symmetric pads)")
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(set(pads)) != 1:
            _fail(node, f"pads {pads}: only symmetric pads (all four equal) are supported")
        if pads[0] >= kh:
            _fail(node, f"pads {pads[0]} must be below the kernel size {kh}")
        bias = self._bias(node, node.input[2] if len(node.input) > 2 else "", m)
        wir = w.transpose(0, 2, 3, 1)  # (M, C/g, kh, kw) -> (M, kh, kw, C/g)
        self._emit(node, t, x.scale, wir, s_w, wtype, bias, dict(
            kernel=kh, stride=strides[0], padding=pads[0], depthwise=depthwise),
            residual, act, q, out, "nchw")
        self._mark(node)

    def _fc_input(self, node, value):
        x = self._float_view(node, value)
        t = self.tensors[x.tensor]
        h, w, c = t.shape
        if x.layout != "flat":
            _fail(node, f"its input must be 2-D (N, features), a flattened tensor; it is "
                        f"(N, {c}, {h}, {w})")
        if h != w or h > 7:
            _fail(node, f"its input is a flattened {c} x {h} x {w} tensor: a fully connected "
                        f"layer is a convolution whose kernel covers its input, so it needs "
                        f"H = W <= 7")
        return x, t

    def _fc_weights(self, wmat, t):
        """(M, C*H*W) in ONNX's C, H, W flatten order -> IR (M, kh, kw, C)."""
        h, w, c = t.shape
        return wmat.reshape(wmat.shape[0], c, h, w).transpose(0, 2, 3, 1)

    def _gemm(self, node, residual, act, q, out):
        attrs = self._attrs(node)
        if attrs.get("transA", 0):
            _fail(node, "transA 1 is not supported")
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            _fail(node, f"alpha {attrs.get('alpha', 1.0)} and beta {attrs.get('beta', 1.0)}: "
                        f"only alpha = beta = 1 is supported")
        x, t = self._fc_input(node, node.input[0])
        tb = attrs.get("transB", 0)
        w, s_w, wtype = self._weights(node, node.input[1], 0 if tb else 1)
        wmat = w if tb else w.T
        self._fc(node, x, t, wmat, s_w, wtype,
                 node.input[2] if len(node.input) > 2 else "", node, residual, act, q, out)

    def _matmul(self, node, bias_name, bias_node, residual, act, q, out):
        x, t = self._fc_input(node, node.input[0])
        w, s_w, wtype = self._weights(node, node.input[1], 1)
        if w.ndim != 2:
            _fail(node, f"weights of shape {w.shape}: only a 2-D weight matrix is supported")
        self._fc(node, x, t, w.T, s_w, wtype, bias_name or "", bias_node or node, residual,
                 act, q, out)

    def _fc(self, node, x, t, wmat, s_w, wtype, bias_name, bias_node, residual, act, q, out):
        h, w, c = t.shape
        if wmat.ndim != 2 or wmat.shape[1] != h * w * c:
            _fail(node, f"weights of shape {wmat.shape} (as outputs x inputs) do not take "
                        f"{h * w * c} inputs")
        m = wmat.shape[0]
        bias = self._bias(bias_node, bias_name, m)
        self._emit(node, t, x.scale, self._fc_weights(wmat, t), s_w, wtype, bias,
                   dict(kernel=h, stride=1, padding=0, depthwise=False), residual, act, q,
                   out, "flat")
        self._mark(node)

    def _requantize(self, where, dq_node, act, q, out):
        """Q(act(DQ(t))) or Q(DQ(t)): an elementwise layer. Fused into t's layer when
        exact (a ReLU at the same scale and type), else a depthwise 1 x 1 layer of unit
        weights."""
        x = self._dq(where, dq_node.output[0])
        t = self.tensors[x.tensor]
        name, bits, signed, s_y = out
        qname = dq_node.input[0]
        i = self.made_by.get(t.name)
        if (act is not None and act.op_type == "Relu" and x.layout == "nchw"
                and (bits, signed) == (t.bits, t.signed) and x.scale == s_y
                and i is not None and isinstance(self.ir_nodes[i], ConvNode)
                and self.ir_nodes[i].layer.activation is None
                and qname not in self.outputs and t.name == qname
                and dq_node.output[0] not in self.outputs
                and len(self.consumers.get(qname, [])) == 1
                and len(self.consumers.get(dq_node.output[0], [])) == 1):
            # relu(round(v / s)) == round(relu(v) / s): the ReLU joins the layer.
            n = self.ir_nodes[i]
            self.ir_nodes[i] = replace(n, layer=replace(n.layer, activation=AfuOp.RELU))
            self.qvals[name] = self.qvals[qname]
            return
        h, w, c = t.shape
        ones = np.ones((c, 1, 1, 1), dtype=np.int64)
        self._emit(where, t, x.scale, ones, np.ones(c), None, np.zeros(c),
                   dict(kernel=1, stride=1, padding=0, depthwise=True), None, act, q, out,
                   x.layout)

    def _emit(self, node, t, s_x, weights, s_w, wtype, bias, geometry, residual, act, q, out,
              layout):
        """Choose shift, scale and bias; build the Conv2d and its node."""
        name, bits, signed, s_y = out
        if wtype is not None:
            wbits = _INT_TYPES[wtype][0]
            if wbits < t.bits:
                _fail(node, f"its weights are {_type_name(wtype)} but its input is {t.bits}-bit: "
                            f"the machine's weights and input activations share one "
                            f"precision")
            lo, hi = -(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1
            if weights.min() < lo or weights.max() > hi:
                bad = weights[(weights < lo) | (weights > hi)].flat[0]
                _fail(node, f"weight value {int(bad)} is outside the signed {t.bits}-bit range "
                            f"[{lo}, {hi}] of the layer (its input is {t.bits}-bit)")
        m = weights.shape[0]
        # Worst-case |acc|: each channel's sum of |w| times the largest |x|.
        xmax = (1 << (t.bits - 1)) if t.signed else (1 << t.bits) - 1
        per_channel = np.abs(weights).reshape(m, -1).sum(axis=1)
        bound = int(per_channel.max()) * xmax
        if bound >= 1 << 31:
            _fail(node, f"its worst-case sum {bound} could leave int32")
        shift = 0
        while bound * 2.0 ** -shift > FP16_MAX:
            shift += 1
        # Real output in output units: acc * s_x * s_w[c] / s_y + b[c] / s_y.
        ratio = s_x * np.asarray(s_w, dtype=np.float64) / s_y
        live = per_channel > 0            # channels with all-zero weights: acc is 0
        if live.any():
            low = min(float(r) for r in ratio[live])
            while low * 2.0 ** shift < FP16_MIN_NORMAL and shift < 63:
                shift += 1
            top = max(float(r) for r in ratio[live]) * 2.0 ** shift
            if low * 2.0 ** shift < FP16_MIN_NORMAL or top > FP16_MAX:
                _fail(node, f"its scale ratios s_x*s_w/s_y from {low:.3g} to "
                            f"{max(ratio[live]):.3g} cannot all be normal binary16 scales "
                            f"with one shift (0..63) that keeps the sums {bound} finite")
        scale = np.where(live, ratio * 2.0 ** shift, 0.0)
        scale_bits = fp16.from_float(scale).astype(np.uint16)
        b = np.asarray(bias, dtype=np.float64) / s_y
        bias_bits = fp16.from_float(b).astype(np.uint16)
        if not np.all(np.isfinite(fp16.to_float(bias_bits))):
            _fail(node, f"its bias in output units ({np.abs(b).max():.3g}) overflows binary16")
        op, p0, p1 = self._activation(act, s_y, bits, signed)
        res_name, res_shift = None, 0
        h, w, c = t.shape
        kw = dict(geometry)
        try:
            probe = Conv2d(c, m, kernel=kw["kernel"], stride=kw["stride"],
                           padding=kw["padding"], depthwise=kw["depthwise"])
            oh, ow = probe.out_size(h, w)
        except (TypeError, ValueError) as e:
            _fail(node, f"cannot be mapped: {e}")
        if residual is not None:
            residual, where = residual
            r = self.tensors[residual.tensor]
            if (r.shape, r.bits, r.signed) != ((oh, ow, m), bits, signed):
                _fail(where, f"the residual {r.name} is {r.shape} {r.bits}-bit "
                             f"{'signed' if r.signed else 'unsigned'}; it must have the "
                             f"output's shape {(oh, ow, m)} and type ({bits}-bit "
                             f"{'signed' if signed else 'unsigned'})")
            mr, er = math.frexp(residual.scale)
            my, ey = math.frexp(s_y)
            if mr != my or not 0 <= ey - er <= 63:
                _fail(where, f"the residual's scale {residual.scale!r} over the output scale "
                             f"{s_y!r} is {residual.scale / s_y!r}, not 2**-k for k in 0..63: "
                             f"the machine adds the residual times 2**-res_shift")
            res_name, res_shift = r.name, ey - er
        layer = Conv2d(c, m, kernel=kw["kernel"], stride=kw["stride"], padding=kw["padding"],
                       bits=t.bits, in_signed=t.signed, out_bits=bits, out_signed=signed,
                       shift=shift, activation=op, act_p0=p0, act_p1=p1,
                       depthwise=kw["depthwise"], residual=res_name is not None,
                       res_shift=res_shift, name=node.name or name)
        o = self._new_tensor(q, out, (oh, ow, m), layout)
        self._add_node(ConvNode(node.name or name, layer, weights.astype(np.int64),
                                scale_bits, bias_bits, t.name, o, res_name))

    # ------------------------------------------------------------------------- end

    def _leftovers(self):
        for node in self.nodes:
            if id(node) in self.used:
                continue
            if node.op_type == "DequantizeLinear":
                users = [u for o in node.output for u in self.consumers.get(o, [])]
                if node.input[0] in self.qvals and not users:
                    continue  # reads a network tensor: the graph output's DQ is checked below
                if node.input[0] in self.qvals and node.output[0] in self.outputs:
                    continue
                if users:
                    u = users[0]
                    _fail(u, f"reads {node.output[0]!r} (dequantized) but {u.op_type} is not "
                             f"part of a pattern the machine runs here (missing "
                             f"QuantizeLinear after it?)")
                _fail(node, "dequantizes a value that is not a network tensor")
            if node.op_type == "QuantizeLinear":
                if node.input[0] in self.consts:
                    _fail(node, f"quantizes the float initializer {node.input[0]!r}, which no "
                                f"layer reads as weights")
                continue
            _fail(node, "its output is not quantized by a QuantizeLinear the importer can "
                        "map (missing QDQ after it, or an unsupported position)")

    def _finish(self):
        if self.extra_inputs:
            v = self.extra_inputs[0]
            users = self.consumers.get(v, [])
            if users:
                _fail(users[0], f"reads graph input {v!r}: the machine's network has one "
                                f"input (dynamic weights are not supported)")
            raise OnnxImportError(f"the graph has more than one input ({v!r} is unused)")
        if len(self.outputs) != 1:
            v = self.outputs[1]
            p = self.producer.get(v)
            where = f"{_label(p)}: its output {v!r}" if p else f"graph output {v!r}"
            raise OnnxImportError(f"{where} is a second graph output: the machine's "
                                  f"network has one output")
        v = self.outputs[0]
        p = self.producer.get(v)
        if p is not None and p.op_type == "DequantizeLinear" and p.input[0] in self.qvals:
            bits, signed, s = self._qparams(p)
            t = self.tensors[self.qvals[p.input[0]].tensor]
            if s != t.scale:
                _fail(p, f"the graph output dequantizes with scale {s!r}, the tensor was "
                         f"quantized with {t.scale!r}")
            qname = p.input[0]
        elif v in self.qvals:
            qname = v
        else:
            where = _label(p) if p is not None else "the graph input"
            raise OnnxImportError(f"{where}: the graph output {v!r} must be a QuantizeLinear "
                                  f"output or its DequantizeLinear")
        t = self.tensors[self.qvals[qname].tensor]
        if not self.ir_nodes or self.ir_nodes[-1].output.name != t.name:
            raise OnnxImportError(f"the graph output {v!r} is tensor {t.name!r}, which is not "
                                  f"the last layer's output")
        try:
            return Network(self.name, self.input, list(self.ir_nodes))
        except NetworkError as e:
            raise OnnxImportError(f"the imported network is not well formed: {e}") from None

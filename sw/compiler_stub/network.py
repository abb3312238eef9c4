"""A network for the machine: its tensors and layers, in the machine's numerics.

A :class:`Network` is what the ONNX importer (:mod:`sw.compiler_stub.onnx_import`) and the
quantization-aware trainer produce and what the network compiler
(:mod:`sw.compiler_stub.net`) maps onto a core. Every tensor is integer, in height x width
x channels order (HWC), with a zero point of 0; its real value is ``q * scale``. Every
layer is one of the golden model's layers (:class:`~sw.golden.layers.Conv2d`, a fully
connected layer being a convolution whose kernel covers its whole input, and
:class:`~sw.golden.layers.Pool2d`) with its integer weights and binary16 per-channel
scale and bias, so :func:`run_reference` gives the machine's exact answer.

The format is documented in docs/network.md.
"""

from dataclasses import dataclass, field

import numpy as np

from sw.golden import checks
from sw.golden.layers import Conv2d, Pool2d, conv2d_reference, pool2d_reference

__all__ = ["Tensor", "ConvNode", "PoolNode", "Network", "NetworkError", "run_reference"]


class NetworkError(ValueError):
    """A network that is not well formed (the message names the node and the reason)."""


@dataclass(frozen=True)
class Tensor:
    """An integer tensor of shape ``(height, width, channels)``: ``bits`` (8, 4 or 2)
    and ``signed``; real value ``q * scale`` (``scale`` a positive finite float, for the
    user: the machine never uses it)."""
    name: str
    shape: tuple
    bits: int
    signed: bool
    scale: float = 1.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a tensor's name must be a non-empty str, not {self.name!r}")
        if not isinstance(self.shape, tuple) or len(self.shape) != 3:
            raise TypeError(f"tensor {self.name}: shape must be a tuple (height, width, "
                            f"channels), not {self.shape!r}")
        object.__setattr__(self, "shape", tuple(
            checks.integer(v, f"tensor {self.name}'s shape", low=1) for v in self.shape))
        object.__setattr__(self, "bits", checks.integer(self.bits, f"tensor {self.name}'s bits"))
        if self.bits not in (8, 4, 2):
            raise ValueError(f"tensor {self.name}: bits must be 8, 4 or 2, not {self.bits}")
        object.__setattr__(self, "signed", checks.boolean(self.signed,
                                                          f"tensor {self.name}'s signed"))
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) \
                or not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"tensor {self.name}: scale must be a positive finite number, "
                             f"not {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))

    def check(self, q, what=None):
        """``q`` as an int64 array of this tensor's shape and range (else a clear error)."""
        return checks.integers(q, what or f"tensor {self.name}", self.bits, self.signed,
                               shape=self.shape).astype(np.int64)


@dataclass(frozen=True)
class ConvNode:
    """``output = layer(input [, residual])``: a convolution or fully connected layer.

    ``weights`` are the layer's signed integers of ``layer.weight_shape``; ``scale`` and
    ``bias`` binary16 bit patterns (uint16), one per output channel; ``input`` and
    ``residual`` name tensors of the network."""
    name: str
    layer: Conv2d
    weights: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    input: str
    output: Tensor
    residual: str = None


@dataclass(frozen=True)
class PoolNode:
    """``output = pool(input)``: max or average pooling."""
    name: str
    pool: Pool2d
    input: str
    output: Tensor


@dataclass
class Network:
    """Nodes in execution order; each node's inputs are the network's input or earlier
    nodes' outputs. The network's output is the last node's output."""
    name: str
    input: Tensor
    nodes: list = field(default_factory=list)

    def __post_init__(self):
        self.validate()

    @property
    def output(self):
        return self.nodes[-1].output if self.nodes else self.input

    def tensors(self):
        """Every tensor by name: the input and each node's output."""
        out = {self.input.name: self.input}
        for node in self.nodes:
            out[node.output.name] = node.output
        return out

    def validate(self):
        """Check every node against the tensors it reads; raise :class:`NetworkError`."""
        known = {self.input.name: self.input}
        for node in self.nodes:
            if not isinstance(node, (ConvNode, PoolNode)):
                raise NetworkError(f"a node must be a ConvNode or a PoolNode, not "
                                   f"{type(node).__name__}")
            where = f"node {node.name}"
            if node.input not in known:
                raise NetworkError(f"{where}: its input {node.input!r} is not an earlier "
                                   f"tensor")
            if node.output.name in known:
                raise NetworkError(f"{where}: tensor {node.output.name!r} is written twice")
            x = known[node.input]
            h, w, c = x.shape
            if isinstance(node, ConvNode):
                L = node.layer
                if not isinstance(L, Conv2d):
                    raise NetworkError(f"{where}: layer must be a Conv2d")
                if (c, x.bits, x.signed) != (L.in_channels, L.bits, L.in_signed):
                    raise NetworkError(
                        f"{where}: input {x.name} is {c} channels of {x.bits} bits "
                        f"{'signed' if x.signed else 'unsigned'}, the layer reads "
                        f"{L.in_channels} of {L.bits} bits "
                        f"{'signed' if L.in_signed else 'unsigned'}")
                shape = L.out_size(h, w) + (L.out_channels,)
                out = (L.out_bits, L.out_signed)
                checks.integers(node.weights, f"{where}'s weights", L.bits, True,
                                shape=L.weight_shape)
                checks.binary16(node.scale, f"{where}'s scale", shape=(L.out_channels,))
                checks.binary16(node.bias, f"{where}'s bias", shape=(L.out_channels,))
                if L.residual != (node.residual is not None):
                    raise NetworkError(f"{where}: the layer's residual flag and the node's "
                                       f"residual tensor disagree")
                if node.residual is not None:
                    if node.residual not in known:
                        raise NetworkError(f"{where}: its residual {node.residual!r} is not "
                                           f"an earlier tensor")
                    r = known[node.residual]
                    if (r.shape, r.bits, r.signed) != (shape,) + out:
                        raise NetworkError(f"{where}: residual {r.name} must have the "
                                           f"output's shape {shape} and type")
            else:
                P = node.pool
                if not isinstance(P, Pool2d):
                    raise NetworkError(f"{where}: pool must be a Pool2d")
                if (c, x.bits, x.signed) != (P.channels, P.bits, P.signed):
                    raise NetworkError(f"{where}: input {x.name} does not match the pool's "
                                       f"channels and type")
                shape = P.out_size(h, w) + (c,)
                out = (P.bits, P.signed)
            o = node.output
            if (o.shape, o.bits, o.signed) != (shape,) + out:
                raise NetworkError(f"{where}: output {o.name} must be {shape}, "
                                   f"{out[0]} bits {'signed' if out[1] else 'unsigned'}")
            known[o.name] = o


def run_reference(network, x):
    """The machine's exact answer: every tensor of ``network`` for input ``x`` (integers
    of the input's shape and range), by name."""
    values = {network.input.name: network.input.check(x, "x")}
    for node in network.nodes:
        if isinstance(node, ConvNode):
            res = values[node.residual] if node.residual is not None else None
            _, y = conv2d_reference(node.layer, values[node.input], node.weights,
                                    node.scale, node.bias, res)
        else:
            y = pool2d_reference(node.pool, values[node.input])
        values[node.output.name] = np.asarray(y, dtype=np.int64)
    return values

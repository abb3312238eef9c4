"""The trained network as the network IR (:mod:`sw.compiler_stub.network`): HWC tensors,
the golden model's layers, so :func:`~sw.compiler_stub.network.run_reference` gives the
machine's exact answer for it (the fully connected layer is a 4 x 4 convolution covering
the pooled 4 x 4 x C tensor)."""

import numpy as np

from rtl.spec.codes import AfuOp
from sw.compiler_stub.network import ConvNode, Network, PoolNode, Tensor
from sw.golden.layers import Conv2d, Pool2d

__all__ = ["to_network"]


def to_network(qnet):
    """The :class:`~sw.compiler_stub.network.Network` of ``qnet`` (a
    :class:`~sw.qat.model.QuantizedNet`). Its input is one image's integers, (8, 8, 1)."""
    c = qnet.channels
    x = Tensor("x", (8, 8, 1), qnet.input_bits, False, qnet.input_step)
    nodes, src = [], x
    for q, name in zip(qnet.layers[:3], ("a1", "a2", "a3"), strict=True):
        layer = Conv2d(src.shape[2], c, kernel=3, padding=1, bits=q.bits,
                       in_signed=src.signed, out_bits=q.out_bits, out_signed=False,
                       shift=q.shift, activation=AfuOp.RELU, residual=q.residual is not None,
                       res_shift=q.res_shift, name=q.name)
        out = Tensor(name, (8, 8, c), q.out_bits, False, q.out_step)
        nodes.append(ConvNode(q.name, layer, q.weights.transpose(0, 2, 3, 1),
                              q.scale.view(np.uint16), q.bias.view(np.uint16), src.name, out,
                              q.residual))
        src = out
    p = Tensor("p", (4, 4, c), src.bits, False, src.scale)
    nodes.append(PoolNode("pool", Pool2d(c, 2, 2, "max", src.bits, False, name="pool"),
                          src.name, p))
    fc = qnet.layers[3]
    layer = Conv2d(c, 10, kernel=4, padding=0, bits=fc.bits, in_signed=False,
                   out_bits=fc.out_bits, out_signed=True, shift=fc.shift, name="fc")
    # fc's columns are ONNX's flatten order (c, h, w); the layer's weights are (o, h, w, c).
    w = fc.weights.reshape(10, c, 4, 4).transpose(0, 2, 3, 1)
    nodes.append(ConvNode("fc", layer, w, fc.scale.view(np.uint16), fc.bias.view(np.uint16),
                          "p", Tensor("logits", (1, 1, 10), 8, True, fc.out_step)))
    return Network(f"digits_{qnet.config}", x, nodes)

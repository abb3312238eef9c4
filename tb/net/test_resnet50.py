"""ResNet-50's layer shapes for the northpole prediction (tb/net/resnet50.py, make bench):
the parts chain, and their MACs are ResNet-50's. (The compilation itself, about ten
minutes on the golden 16 x 16 array, runs in make bench.)"""

import itertools

import numpy as np

from sw.compiler_stub.network import ConvNode

from .nets import resnet50_parts
from .resnet50 import _macs


def test_parts_chain_and_count():
    parts = resnet50_parts(np.random.default_rng(0))
    assert [name for name, _ in parts][:3] == ["stem", "s2b0", "s2b1"]
    assert len(parts) == 18 and parts[-1][0] == "head"
    for (_, a), (_, b) in itertools.pairwise(parts):
        assert a.output.shape == b.input.shape, (a.name, b.name)
    convs = [n for _, net in parts for n in net.nodes if isinstance(n, ConvNode)]
    assert len(convs) == 54   # 53 convolutions (with 4 projections) and the classifier
    assert sum(n.weights.size for n in convs) == 25_502_912   # ResNet-50's weights
    macs = sum(_macs(n) for _, net in parts for n in net.nodes)
    assert macs == 4_089_184_256

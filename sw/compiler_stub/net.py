"""Compile a whole network (:class:`~sw.compiler_stub.network.Network`) for one core.

Every layer's regions are placed in MEM at once: each tensor in a buffer of its own
(written by one layer, read by later ones; its zero border, as wide as its widest
reader's padding, is written once by the preload), each layer's weights, constant
vectors and program image. The layers' program images are chained by NEXT (each names
the next layer's image), so one start at :attr:`CompiledNetwork.entry` runs every layer
of an image with no host action between layers (docs/architecture.md, 7.4 and 7.6).

Placement: the streams that run together in a convolution never meet in one bank (a
bank conflict is an error in the hardware): T0's weights, T1's input and T2's output
and residual are four different banks, and the program image and the constants are in
none of the first two (the loader and T2 read them while T0 and T1 run). A pooling
layer runs on T2 alone, one stream at a time: any banks do. The regions are assigned to
banks by a small search, largest first, each bank filled from its start.
"""

import collections
import io
import json
from dataclasses import dataclass, replace

import numpy as np

from sw.golden import checks
from sw.golden.cycles import predict

from .conv import ActivationLayout, CompileError, Placement, _vec_bytes, compile_conv2d, \
    compile_pool2d
from .network import ConvNode, Network, NetworkError, Tensor

__all__ = ["compile_network", "CompiledNetwork", "LayerReport", "CompileError"]


@dataclass(frozen=True)
class LayerReport:
    """One layer's figures: cycles and VMM steps from the cycle model (equal to the
    RTL's), utilization = steps / cycles, and the bytes of MEM it owns (its program
    image, constants, weights and output tensor) and their banks."""
    name: str
    kind: str
    cycles: int
    vmm_steps: int
    utilization: float
    memory: dict
    banks: dict


@dataclass
class CompiledNetwork:
    """A network compiled for a core: ``preload`` (every byte besides the input tensor,
    written once), ``entry`` (the first layer's program image), the layout of every
    tensor by name, and the per-layer report."""
    network: Network
    core: object
    layers: list
    preload: list
    entry: int
    layouts: dict
    report: list
    regions: dict = None   # region name -> (bank, address, bytes)
    batch: int = 1
    images: list = None    # per image of the batch: its input's and output's layouts
    image_cycles: tuple = None   # cycle model figures of every layer image, in chain order
    image_steps: tuple = None

    @property
    def input(self):
        return self.network.input

    @property
    def output(self):
        return self.network.output

    @property
    def cycles(self):
        """Cycles of one run (every layer of every image of the batch), as the RTL counts
        them."""
        return sum(self.image_cycles)

    @property
    def vmm_steps(self):
        return sum(self.image_steps)

    @property
    def cycles_per_image(self):
        return sum(r.cycles for r in self.report)

    def layout(self, name, index=0):
        """Tensor ``name``'s layout: image ``index``'s buffer of the input or output, the
        one shared buffer of any other tensor."""
        if self.images and name in self.images[index]:
            return self.images[index][name]
        return self.layouts[name]

    def memory_used(self):
        """Bytes of MEM the network occupies (every region, word-aligned)."""
        return sum(size for _, _, size in self.regions.values())

    def summary(self):
        """The per-layer report as text."""
        lines = [f"{'layer':<10} {'kind':<6} {'cycles':>8} {'steps':>8} {'util':>6} "
                 f"{'bytes':>7}  banks"]
        for r in self.report:
            banks = " ".join(f"{k}:{v}" for k, v in r.banks.items())
            lines.append(f"{r.name:<10} {r.kind:<6} {r.cycles:>8} {r.vmm_steps:>8} "
                         f"{r.utilization:>6.3f} {sum(r.memory.values()):>7}  {banks}")
        total = self.cycles_per_image
        steps = sum(r.vmm_steps for r in self.report)
        lines.append(f"{'an image':<10} {'':<6} {total:>8} {steps:>8} {steps / total:>6.3f}")
        if self.batch > 1:
            lines.append(f"a run: {self.batch} images, {self.cycles} cycles")
        return "\n".join(lines)

    # Saving and loading (what the runtime needs: no network weights, no programs).

    def save(self, path):
        """Write the compiled model to ``path`` (a ``.npz``): preload, entry, layouts."""
        meta = {
            "format": 1,
            "name": self.network.name,
            "core": {k: getattr(self.core, k) for k in self.core.__dataclass_fields__},
            "entry": self.entry,
            "input": self.input.name,
            "output": self.output.name,
            "cycles": self.cycles,
            "batch": self.batch,
            "images": [{name: _layout_meta(lay) for name, lay in image.items()}
                       for image in self.images],
            "tensors": {name: _tensor_meta(t, self.layouts[name])
                        for name, t in self.network.tensors().items()},
            "preload": [addr for addr, _ in self.preload],
            "report": [r.__dict__ for r in self.report],
            "memory_used": self.memory_used(),
        }
        blobs = {f"p{i}": np.frombuffer(data, dtype=np.uint8)
                 for i, (_, data) in enumerate(self.preload)}
        with open(path, "wb") as f:
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                     **blobs)


def _layout_meta(layout):
    return {k: getattr(layout, k) for k in layout.__dataclass_fields__}


def _tensor_meta(t, layout):
    return {"shape": list(t.shape), "bits": t.bits, "signed": t.signed, "scale": t.scale,
            "layout": _layout_meta(layout)}


def load_model(path):
    """Read a model written by :meth:`CompiledNetwork.save`: a :class:`LoadedModel`."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        npz = np.load(io.BytesIO(data))
        meta = json.loads(npz["meta"].tobytes().decode())
        if meta.get("format") != 1:
            raise ValueError(f"unknown format {meta.get('format')!r}")
        preload = [(addr, npz[f"p{i}"].tobytes()) for i, addr in enumerate(meta["preload"])]
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a compiled model: {e}") from e
    return LoadedModel(meta, preload)


class LoadedModel:
    """A compiled model as the runtime sees it: the core's configuration name-free
    parameters, the preload, the entry, and each tensor's type and layout."""

    def __init__(self, meta, preload):
        from rtl.spec.config import CoreConfig
        core = dict(meta["core"])
        for name in ("precisions", "thread_program_len"):   # (JSON lists)
            if name in core:
                core[name] = tuple(core[name])
        self.core = CoreConfig(**core)
        self.name = meta["name"]
        self.entry = meta["entry"]
        self.preload = preload
        self.cycles = meta["cycles"]
        self.report = [LayerReport(**r) for r in meta["report"]]
        self.tensors, self.layouts = {}, {}
        for name, t in meta["tensors"].items():
            self.tensors[name] = Tensor(name, tuple(t["shape"]), t["bits"], t["signed"],
                                        t["scale"])
            self.layouts[name] = ActivationLayout(**t["layout"])
        self.input = self.tensors[meta["input"]]
        self.output = self.tensors[meta["output"]]
        self.batch = meta["batch"]
        self.images = [{name: ActivationLayout(**lay) for name, lay in image.items()}
                       for image in meta["images"]]

    layout = CompiledNetwork.layout


# Placement.

@dataclass
class _Region:
    name: str
    size: int
    bank: int = None
    addr: int = None


def _place(core, regions, apart, spanning=()):
    """Assign each region a bank (no two regions of a pair in ``apart`` in one bank, each
    bank's regions within its size) and an address; raise CompileError when impossible,
    saying what does not fit by how much. A region named in ``spanning`` (a layer's
    weights on an array) may be larger than a bank: it then takes consecutive banks of
    its own from the first one's start (its last bank's rest is free for others)."""
    bank_bytes, nbanks = core.sram_bank_bytes, core.sram_banks
    # every region at a whole number of constant vectors (VLOAD reads them aligned), and
    # so of MEM words
    align = _vec_bytes(core)
    sizes = {r.name: -(-r.size // align) * align for r in regions}
    total, capacity = sum(sizes.values()), bank_bytes * nbanks
    listing = ", ".join(f"{r.name} {sizes[r.name]}" for r in regions)
    if total > capacity:
        raise CompileError(f"the network needs {total} bytes of MEM, the core has {capacity}: "
                           f"{total - capacity} bytes too many ({listing})")
    for r in regions:
        if sizes[r.name] > bank_bytes and r.name not in spanning:
            raise CompileError(f"{r.name} ({sizes[r.name]} bytes) exceeds a MEM bank "
                               f"({bank_bytes} bytes) by {sizes[r.name] - bank_bytes} bytes")
    span = {r.name: max(1, -(-sizes[r.name] // bank_bytes)) for r in regions}
    others = {r.name: set() for r in regions}
    for a, b in apart:
        others[a].add(b)
        others[b].add(a)
    order = sorted(regions, key=lambda r: (-span[r.name], -len(others[r.name]),
                                          -sizes[r.name], r.name))
    free = [bank_bytes] * nbanks
    where = {}    # region -> its first bank
    best = [0, None]   # the most regions placed, and the first one that then failed

    def banks(name):
        return range(where[name], where[name] + span[name])

    def search(i):
        if i == len(order):
            return True
        r = order[i]
        m, size = span[r.name], sizes[r.name]
        if i >= best[0]:
            best[:] = [i, r]
        taken = {b for o in others[r.name] if o in where for b in banks(o)}
        # Fullest bank first that still fits: keeps room for the large regions.
        for b in sorted(range(nbanks - m + 1), key=lambda b: (free[b], b)):
            mine = range(b, b + m)
            if taken & set(mine):
                continue
            if m == 1 and free[b] < size or m > 1 and any(free[c] < bank_bytes for c in mine):
                continue
            where[r.name] = b
            used = [min(bank_bytes, size - j * bank_bytes) for j in range(m)]
            for c, u in zip(mine, used, strict=True):
                free[c] -= u
            if search(i + 1):
                return True
            del where[r.name]
            for c, u in zip(mine, used, strict=True):
                free[c] += u
        return False

    if not search(0):
        r = best[1]
        need = (f"{span[r.name]} free MEM banks" if span[r.name] > 1 else "MEM bank")
        raise CompileError(f"{r.name} ({sizes[r.name]} bytes) finds no {need}: it must not "
                           f"share a bank with {', '.join(sorted(others[r.name])) or 'none'}, "
                           f"and the {nbanks} banks of {bank_bytes} bytes hold {total} bytes "
                           f"in all ({listing})")
    top = [b * bank_bytes for b in range(nbanks)]
    for r in sorted(regions, key=lambda r: -span[r.name]):   # the multi-bank ones first
        if span[r.name] > 1:
            r.bank = where[r.name]
            r.addr = top[r.bank]
            r.size = sizes[r.name]
            top[r.bank + span[r.name] - 1] = r.addr + r.size
    for r in regions:   # in the caller's order within each bank
        if span[r.name] > 1:
            continue
        r.bank = where[r.name]
        r.addr = top[r.bank]
        r.size = sizes[r.name]
        top[r.bank] += sizes[r.name]
    return {r.name: r for r in regions}


def _paddings(network):
    """Each tensor's border: the widest padding of the convolutions reading it; a
    residual and the output it is added to share one layout (so one border)."""
    pad = {name: 0 for name in network.tensors()}
    for node in network.nodes:
        if isinstance(node, ConvNode):
            pad[node.input] = max(pad[node.input], node.layer.padding)
    changed = True
    while changed:
        changed = False
        for node in network.nodes:
            if isinstance(node, ConvNode) and node.residual is not None:
                p = max(pad[node.residual], pad[node.output.name])
                if (pad[node.residual], pad[node.output.name]) != (p, p):
                    pad[node.residual] = pad[node.output.name] = p
                    changed = True
    return pad


def _compile(core, node, x, placement):
    h, w = x.shape[:2]
    if isinstance(node, ConvNode):
        return compile_conv2d(core, node.layer, h, w, node.weights, node.scale, node.bias,
                              out_padding=placement.output.padding, placement=placement)
    return compile_pool2d(core, node.pool, h, w, placement=placement)


def compile_network(core, network, *, batch=1):
    """Compile ``network`` for ``core`` (a :class:`rtl.spec.config.CoreConfig`).

    ``batch`` images run in one start: the network's input and output tensors get one
    buffer per image, the other tensors, the weights and the constants are shared, and
    each image has its own copy of every layer's program image, all chained by NEXT
    (image ``b``'s last layer names image ``b + 1``'s first).

    Raises
    ------
    TypeError
        If ``network`` is not a :class:`Network`, or ``batch`` not an integer.
    ValueError
        If ``batch`` is less than 1.
    NetworkError
        If the network is not well formed.
    CompileError
        If a layer cannot be mapped onto the core, or the network does not fit in MEM
        (the message says what does not fit, by how much).
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, not {type(network).__name__}")
    batch = checks.integer(batch, "batch", low=1)
    network.validate()
    if not network.nodes:
        raise NetworkError(f"network {network.name} has no layers")
    word = core.mem_port_bits // 8
    tensors = network.tensors()
    nodes = network.nodes
    pad = _paddings(network)
    layouts = {name: ActivationLayout(0, t.shape[0], t.shape[1], t.shape[2], t.bits,
                                      t.signed, pad[name], word,
                                      core.vmm_cols * 8 // t.bits)
               for name, t in tensors.items()}
    pair = core.sram_banks > 4
    per_image = {network.input.name, network.output.name} if batch > 1 else set()

    def T(name, b=0):   # a tensor's region (image b's buffer of an input or output)
        return f"tensor {name}[{b}]" if name in per_image else f"tensor {name}"

    def C(node, b=0):   # a layer's program image (image b's copy)
        return f"{node.name}[{b}] code" if batch > 1 else f"{node.name} code"

    def placement_of(node, b, addr, next_entry):
        conv = isinstance(node, ConvNode)
        res = node.residual if conv else None
        return Placement(
            code=addr[C(node, b)], constants=addr[f"{node.name} constants"],
            input=replace(layouts[node.input], base=addr[T(node.input, b)]),
            output=replace(layouts[node.output.name], base=addr[T(node.output.name, b)]),
            weights=addr[f"{node.name} weights"] if conv else None,
            weights_pair=addr[f"{node.name} weights_pair"] if conv and pair else None,
            residual=replace(layouts[res], base=addr[T(res, b)]) if res is not None else None,
            next_entry=next_entry)

    def successor(i, b, addr):
        if i + 1 < len(nodes):
            return addr[C(nodes[i + 1], b)]
        return addr[C(nodes[0], b + 1)] if b + 1 < batch else None

    # Sizes: each layer compiled with every region at 0 (with a NEXT, and the last layer
    # also without: the last image's).
    zero = collections.defaultdict(int)
    sizes = {}
    for i, node in enumerate(nodes):
        variants = [0] + ([None] if i == len(nodes) - 1 else [])
        code = []
        for nxt in variants:
            try:
                c = _compile(core, node, tensors[node.input], placement_of(node, 0, zero, nxt))
            except CompileError as e:
                raise CompileError(f"layer {node.name}: {e}") from e
            code.append(c.sizes["code"])
        for k, v in c.sizes.items():
            if k != "code":
                sizes[f"{node.name} {k}"] = v
        for b in range(batch):
            last = i == len(nodes) - 1 and b == batch - 1
            sizes[C(node, b)] = code[-1] if last else code[0]

    # Regions and the banks they must not share.
    regions = [_Region(T(name, b), layouts[name].size) for name in tensors
               for b in range(batch if name in per_image else 1)]
    regions += [_Region(k, v) for k, v in sizes.items()]
    apart = set()
    for node in nodes:
        if not isinstance(node, ConvNode):
            continue
        n = node.name
        for b in range(batch):
            feeders = [f"{n} weights"] + ([f"{n} weights_pair"] if pair else []) + \
                [T(node.input, b)]
            for i, a in enumerate(feeders):   # T0's and T1's streams
                apart |= {(a, f) for f in feeders[i + 1:]}
            stores = [T(node.output.name, b)] + ([T(node.residual, b)]
                                                 if node.residual is not None else [])
            apart |= {(a, f) for a in stores for f in feeders}       # T2's streams
            if node.residual is not None:
                apart.add((T(node.output.name, b), T(node.residual, b)))
            apart |= {(a, f) for a in (C(node, b), f"{n} constants") for f in feeders}
    placed = _place(core, regions, sorted(apart))
    addr = {name: r.addr for name, r in placed.items()}

    # The layers, chained: image 0's layers, then image 1's, ...
    layers = []
    for b in range(batch):
        for i, node in enumerate(nodes):
            c = _compile(core, node, tensors[node.input],
                         placement_of(node, b, addr, successor(i, b, addr)))
            want = dict(_own(sizes, node), code=sizes[C(node, b)])
            assert c.sizes == want, "a layer's size changed"
            layers.append(c)
    # The shared regions' bytes (constants, weights, borders) once.
    preload = list(dict.fromkeys((a, bytes(d)) for c in layers for a, d in c.preload))
    _check_disjoint(preload)

    figures = [predict(core, c.programs) for c in layers]   # every image's copy
    report = []
    for node, (cycles, steps) in zip(nodes, figures, strict=False):   # image 0's
        own = dict(_own(sizes, node), code=sizes[C(node)])
        banks = {k: placed[C(node) if k == "code" else f"{node.name} {k}"].bank for k in own}
        own["output"] = layouts[node.output.name].size
        banks["input"] = placed[T(node.input)].bank
        banks["output"] = placed[T(node.output.name)].bank
        report.append(LayerReport(node.name, "conv" if isinstance(node, ConvNode) else
                                  "pool", cycles, steps, steps / cycles, own, banks))
    images = [{name: replace(layouts[name], base=addr[T(name, b)]) for name in per_image}
              for b in range(batch)]
    layouts = {name: replace(lay, base=addr[T(name)]) for name, lay in layouts.items()}
    return CompiledNetwork(network, core, layers, preload, layers[0].entry, layouts, report,
                           {name: (r.bank, r.addr, r.size) for name, r in placed.items()},
                           batch, images, tuple(f for f, _ in figures),
                           tuple(s for _, s in figures))


def _own(sizes, node):
    """A layer's own regions' sizes, by kind."""
    prefix = node.name + " "
    return {k[len(prefix):]: v for k, v in sizes.items()
            if k.startswith(prefix) and k[len(prefix):] != "code"}


def _check_disjoint(preload):
    spans = sorted((a, a + len(d)) for a, d in preload if len(d))
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise AssertionError(f"preload regions overlap at {start:#x}")


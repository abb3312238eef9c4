"""cocotb tests of the core array (:class:`rtl.top.array.CoreArray`) against the golden
array (:class:`sw.golden.array.ArrayModel`): cores putting MEM regions to each other over
the ANoC, MNoC and INoC, a program delivered over the INoC, dot products reduced over the
PNoC; every MEM word and every core's cycles bit- and cycle-exact."""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl.spec.config import get_config
from sw.compiler_stub.asm import assemble
from sw.golden.array import ArrayModel

from ..stream import start_clock
from ..core.programs import steps_and_post
from .programs import inoc_start, psum_chain, random_exchange, send_text

#: Random exchanges per run (CI).
EXCHANGES = int(os.environ.get("ARRAY_EXCHANGES", "8"))


class ArrayEnv:
    """The array under test (configuration from ``ARRAY_CONFIG``, default ``sim``): host
    access to each core's MEM and a start of chosen cores in one cycle."""

    def __init__(self, dut):
        self.dut = dut
        self.config = get_config(os.environ.get("ARRAY_CONFIG", "sim"))
        self.core = self.config.core
        self.word = self.core.mem_port_bits // 8
        self.n = self.config.cores

    def sig(self, name, k):
        return getattr(self.dut, f"{name}__{k}")

    async def start(self):
        for k in range(self.n):
            getattr(self.dut, f"host__{k}__en").value = 0
            self.sig("start", k).value = 0
        for j in range(3):   # the framebuffer's side: nothing injected, every put taken
            getattr(self.dut, f"inject__{j}__valid").value = 0
        self.dut.eject__ready.value = 1
        self.ejected = []
        await start_clock(self.dut)
        cocotb.start_soon(self._eject())

    async def _eject(self):
        """Every flit the ANoC delivers to the framebuffer's place (column 0, row
        ``rows``): its put's word address and data, in order."""
        d, w = self.dut, self.word
        bits = (self.core.mem_port_bits, 24 - (w - 1).bit_length())
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if d.eject__valid.value and d.eject__ready.value:
                v = d.eject__payload.value.to_unsigned()
                self.ejected.append(((v >> bits[0]) & ((1 << bits[1]) - 1),
                                     (v & ((1 << bits[0]) - 1)).to_bytes(w, "little")))

    async def write(self, k, addr, data):
        """Write bytes (whole words) to core ``k``'s MEM."""
        d, w = self.dut, self.word
        data = bytes(data) + bytes(-len(data) % w)
        getattr(d, f"host__{k}__we").value = 1
        getattr(d, f"host__{k}__mask").value = (1 << w) - 1
        for i in range(0, len(data), w):
            getattr(d, f"host__{k}__en").value = 1
            getattr(d, f"host__{k}__addr").value = addr + i
            getattr(d, f"host__{k}__wdata").value = int.from_bytes(data[i:i + w], "little")
            await FallingEdge(d.clk)
        getattr(d, f"host__{k}__en").value = 0
        getattr(d, f"host__{k}__we").value = 0

    async def read(self, k, addr, length):
        """Read bytes (whole words) of core ``k``'s MEM, a word a cycle: at each falling
        edge the data of the word asked at the one before is there, and the next is
        asked."""
        d, w = self.dut, self.word
        en, ad = getattr(d, f"host__{k}__en"), getattr(d, f"host__{k}__addr")
        rdata = getattr(d, f"host__{k}__rdata")
        getattr(d, f"host__{k}__we").value = 0
        out = bytearray()
        en.value = 1
        for i in range(0, length, w):
            ad.value = addr + i
            await FallingEdge(d.clk)
            out += rdata.value.to_unsigned().to_bytes(w, "little")
        en.value = 0
        return bytes(out[:length])

    async def run(self, entries, settle, ran, max_cycles=100_000):
        """Start core ``k`` at ``entries[k]`` (None: not by the host), all in one cycle;
        wait until cycle ``settle`` from the start (the golden array's last put) with no
        core busy; return, per core that ``ran`` (an INoC start counts), its last run's
        ``(cycles, vmm_steps)``, else None."""
        d = self.dut
        for k, entry in enumerate(entries):
            if entry is not None:
                getattr(d, f"entry__{k}").value = entry
                self.sig("start", k).value = 1
        await FallingEdge(d.clk)
        for k in range(self.n):
            self.sig("start", k).value = 0
        for cycle in range(1, max_cycles):
            await ReadOnly()
            if cycle >= settle and not any(self.sig("busy", k).value for k in range(self.n)):
                break
            await FallingEdge(d.clk)
        else:
            raise TimeoutError(f"the array ran more than {max_cycles} cycles")
        done = [(int(self.sig("cycles", k).value), int(self.sig("vmm_steps", k).value))
                if ran[k] else None for k in range(self.n)]
        await FallingEdge(d.clk)
        for k in range(self.n):
            assert not self.sig("conflict", k).value, f"core {k}: a MEM bank conflict"
            assert not self.sig("overflow", k).value, f"core {k}: a counter overflowed"
        return done


async def load(env, golden, images, data=None):
    """Write ``images`` (per core, bytes or None) at 0 and, if given, ``data`` (per core,
    the bytes from bank 1 on) to every core of the RTL and of the golden array."""
    bank = env.core.sram_bank_bytes
    for k, image in enumerate(images):
        if data is not None:
            golden.cores[k].write(bank, data[k])
            await env.write(k, bank, data[k])
        if image is not None:
            golden.cores[k].write(0, image)
            await env.write(k, 0, image)


async def check_run(env, golden, images, label, entries=None):
    """Run (the cores with an image, or those ``entries`` names) and compare every core's
    cycles and banks 1 to 3 of its MEM (where the puts land) with the golden array's."""
    cfg, bank = env.core, env.core.sram_bank_bytes
    entries = [0 if image is not None else None for image in images] \
        if entries is None else entries
    expected = golden.run(entries)
    got = await env.run(entries, golden.cycle, [bool(r) for r in golden.runs])
    assert got == expected, f"{label}: RTL cycles {got}, golden {expected}"
    for k in range(env.n):
        mem = await env.read(k, bank, cfg.sram_bytes - bank)
        want = golden.cores[k].read(bank, cfg.sram_bytes - bank)
        if mem != want:
            bad = [bank + a for a in range(0, len(mem), env.word)
                   if mem[a:a + env.word] != want[a:a + env.word]]
            raise AssertionError(f"{label}: core {k}'s MEM differs at {len(bad)} words, "
                                 f"first {bad[:4]}")
    return expected


def seeded(dut, salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    return random.Random(seed * 7919 + salt)


@cocotb.test()
async def test_ping_pong(dut):
    """Two neighbours in a row (a 1 x 2 arrangement): core (0, 0) puts 24 words to core
    (1, 0) over each put network in turn (ANoC, MNoC, INoC), signalling the last; core
    (1, 0) waits for it and puts the words back, one row below the originals, over the
    same network; core (0, 0) waits for those before its next network. Every MEM word and
    both cores' cycles equal the golden array's."""
    env = ArrayEnv(dut)
    await env.start()
    rng = seeded(dut, 1)
    cfg, word, bank, n = env.core, env.word, env.core.sram_bank_bytes, 24
    a_text = "".join(f".remote ctr={4 + p} count=1\n" for p in range(3))
    b_text = "".join(f".remote ctr={p} count=1\n" for p in range(3))
    for p, t in enumerate((4, 6, 7)):   # network p: thread t of both cores
        src, there, back = bank + 256 * p, 2 * bank + 256 * p, 3 * bank + 256 * p
        a_text += "\n".join([f".thread {t}", f"WAIT ctr={7 + p}" if p else "NOP",
                             send_text(src, there, n, word, x=(1, 1), signal=1, ctr=p),
                             f"WAIT ctr={4 + p}", f"SIGNAL ctr={8 + p}" if p < 2 else "NOP",
                             "END", ""])
        b_text += "\n".join([f".thread {t}", f"WAIT ctr={p}",
                             send_text(there, back, n, word, signal=1, ctr=4 + p), "END", ""])
    progs = [assemble(a_text, cfg), assemble(b_text, cfg)]
    images = [progs[0].image(), progs[1].image()] + [None] * (env.n - 2)
    data = [rng.randbytes(cfg.sram_bytes - bank) for _ in range(env.n)]
    golden = ArrayModel(env.config)
    await load(env, golden, images, data)
    cycles = await check_run(env, golden, images, "ping-pong")
    dut._log.info("ping-pong over the three put networks: cycles %s", cycles)


@cocotb.test()
async def test_random_exchange(dut):
    """``EXCHANGES`` rounds of random traffic (tb/array/programs.py): every core's NoC
    threads put random regions to random rectangles (unicast, rows, columns, the whole
    array) over all four networks, to addresses other cores stream from too, signalling
    random counters; every core waits for its due SIGNALs. Every MEM word of every core
    and every core's cycles equal the golden array's."""
    env = ArrayEnv(dut)
    await env.start()
    rng = seeded(dut, 2)
    cfg, bank = env.core, env.core.sram_bank_bytes
    puts = 0
    # One golden array for all rounds, as one RTL array: the routers' round-robin
    # pointers (and every other state) carry over from round to round in both.
    golden = ArrayModel(env.config)
    await load(env, golden, [None] * env.n,
               [rng.randbytes(cfg.sram_bytes - bank) for _ in range(env.n)])
    for r in range(EXCHANGES):
        progs, texts = random_exchange(rng, env.config)
        images = [p.image() if any(p.threads) else None for p in progs]
        await load(env, golden, images)
        try:
            await check_run(env, golden, images, f"exchange {r}")
        except AssertionError:
            dut._log.error("programs:\n%s", "\n".join(texts))
            raise
        puts = sum(len(q) for c in golden.cores for q in c.noc_out)
    dut._log.info("%d random exchanges, %d flits sent", EXCHANGES, puts)


@cocotb.test()
async def test_inoc_start(dut):
    """Core (0, 0) delivers a program image over the INoC to its neighbour (1, 0) (a 2 x 1
    arrangement), then to core (1, 1) across the array; the host never starts either:
    T7 puts the image's words backwards, the header last with ``start``, so that the
    receiver runs it once it has landed. The program puts a region of the receiver back
    to core (0, 0) over the ANoC, whose T3 waits for its SIGNAL. MEM and cycles equal the
    golden array's (which launches the receiver in the same cycle)."""
    env = ArrayEnv(dut)
    await env.start()
    rng = seeded(dut, 3)
    cfg, bank = env.core, env.core.sram_bank_bytes
    golden = ArrayModel(env.config)
    for to in ((1, 0), (1, 1)):
        local, remote = inoc_start(env.config, to=to)
        data = [rng.randbytes(cfg.sram_bytes - bank) for _ in range(env.n)]
        data[0] = data[0][:bank] + remote + data[0][bank + len(remote):]   # at 2 * bank
        images = [local, None, None, None]
        k = to[1] * env.config.cols + to[0]
        await load(env, golden, images, data)
        cycles = await check_run(env, golden, images, f"INoC start of {to}")
        assert len(golden.starts[k]) == 1 and golden.starts[k][0] > 0, golden.starts
        dut._log.info("INoC start: core %s launched in cycle %d; cycles %s", to,
                      golden.starts[k][0], cycles)


@cocotb.test()
async def test_psum_reduction(dut):
    """Dot products split over neighbouring cores, their partial sums passed over the
    PNoC and summed on the fly (tb/array/programs.py ``psum_chain``): two neighbours (a
    2 x 1 arrangement, random direction) and all four cores in a random order; then two
    neighbours sending to one core at once (its input's arbitration). Each run's MEM and
    cycles equal the golden array's, and a chain's results equal NumPy's."""
    env = ArrayEnv(dut)
    await env.start()
    rng = seeded(dut, 4)
    bank = env.core.sram_bank_bytes
    cols = env.config.cols
    golden = ArrayModel(env.config)
    pairs = [[(0, 0), (1, 0)], [(1, 0), (0, 0)], [(0, 0), (0, 1)], [(0, 1), (0, 0)],
             [(1, 1), (0, 1)], [(0, 1), (1, 1)]]
    rings = [[(0, 0), (1, 0), (1, 1), (0, 1)], [(1, 1), (1, 0), (0, 0), (0, 1)]]
    ring = rng.choice(rings)
    shift = rng.randrange(4)
    for label, path in (("pair", rng.choice(pairs)),
                        ("four cores", ring[shift:] + ring[:shift])):
        texts, data, expected = psum_chain(rng, env.config, path)
        images = [assemble(t, env.core).image() if t is not None else None for t in texts]
        await load(env, golden, images, data)
        cycles = await check_run(env, golden, images, f"{label} {path}")
        x, y = path[-1]
        got = np.frombuffer(await env.read(y * cols + x, 3 * bank + 256, expected.size),
                            dtype=np.int8).reshape(expected.shape)
        np.testing.assert_array_equal(got, expected, err_msg=f"{label} {path}")
        dut._log.info("reduction over %s: cycles %s", path, cycles)
    texts, data, _ = psum_chain(rng, env.config, [(1, 1), (0, 1)], takes=2)
    north, north_data, _ = psum_chain(rng, env.config, [(0, 0), (0, 1)])
    texts[0], data[0] = north[0], north_data[0]
    images = [assemble(t, env.core).image() if t is not None else None for t in texts]
    await load(env, golden, images, data)
    cycles = await check_run(env, golden, images, "two senders")
    dut._log.info("two senders to one core: cycles %s", cycles)


@cocotb.test()
async def test_mnoc_weights(dut):
    """Core (0, 0)'s T6 multicasts a layer's weight tiles over the MNoC (SEND weight=1),
    first to every core of the array (itself included), then to the row below it. Each
    receiver's T0 takes them straight from its MNoC port (WSTREAM noc=1, no MEM), T1 runs
    three steps a tile on activations of its own (signalling the last result) and T2
    VPOSTs the results to MEM as int8 (scale 1, bias 0, identity). Every MEM word and
    every core's cycles equal the golden array's, and every receiver's outputs equal a
    NumPy matmul of the tiles and its activations."""
    import numpy as np
    env = ArrayEnv(dut)
    await env.start()
    rng = seeded(dut, 4)
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    cfg, word, bank = env.core, env.word, env.core.sram_bank_bytes
    rows, cols, xs, ys = cfg.vmm_rows, cfg.vmm_cols, env.config.cols, env.config.rows
    tiles, per = 3, 3
    steps = tiles * per
    out_base, const_base = 3 * bank + 512, 3 * bank
    golden = ArrayModel(env.config)
    base = [rng.randbytes(cfg.sram_bytes - bank) for _ in range(env.n)]
    await load(env, golden, [None] * env.n, base)
    one = np.full(rows, 0x3C00, dtype="<u2").tobytes()
    pad = bytes(-len(one) % word)
    consts = one + pad + bytes(len(one) + len(pad)) + \
        np.array([0x3C00] + [0] * (rows - 1), dtype="<u2").tobytes() + pad
    for label, (y0, y1) in (("all cores", (0, ys - 1)), ("row 1", (1, 1))):
        w = nrng.integers(-3, 4, size=(tiles, rows, cols)).astype(np.int8)
        acts = nrng.integers(-3, 4, size=(env.n, steps, cols)).astype(np.int8)
        receivers = [y * xs + x for y in range(y0, y1 + 1) for x in range(xs)]
        texts = ["" for _ in range(env.n)]
        for k in receivers:
            texts[k] = f"""
            .thread 0
                AGDIM g=0 d=0 count={tiles * rows} stride=0
                WSTREAM s=0 prec=0 act_signed=1 noc=1
                END
            """ + steps_and_post(word, rows, steps, per, 2 * bank, const_base, out_base)
        texts[0] += f"""
            .thread 6
                AGBASE g=0 base={bank}
                AGDIM g=0 d=0 count={tiles * rows} stride={word}
                AGBASE g=1 base={bank + word * rng.randrange(64)}
                AGDIM g=1 d=0 count={tiles * rows} stride={word}
                SEND s=0 d=1 x0=0 x1={xs - 1} y0={y0} y1={y1} weight=1
                END
            """
        images = [assemble(t, cfg).image() if t else None for t in texts]
        # Core (0, 0): the tiles' rows in bank 1; every receiver: its activations in bank
        # 2, the constants at the start of bank 3, random bytes under its outputs.
        data = []
        for k in range(env.n):
            mem = bytearray(base[k])
            if k == 0:
                for i, row in enumerate(w.reshape(-1, cols)):
                    mem[i * word:i * word + cols] = row.tobytes()
            for i, a in enumerate(acts[k]):
                mem[bank + i * word:bank + i * word + cols] = a.tobytes()
            mem[2 * bank:2 * bank + len(consts)] = consts
            data.append(bytes(mem))
        await load(env, golden, images, data)
        cycles = await check_run(env, golden, images, f"MNoC weights to {label}")
        for k in receivers:
            out = np.frombuffer(golden.cores[k].read(out_base, steps * rows),
                                dtype=np.int8).reshape(steps, rows)
            want = np.stack([w[i // per].astype(np.int64) @ acts[k][i].astype(np.int64)
                             for i in range(steps)])
            assert np.array_equal(out, want), f"{label}: core {k}'s outputs {out} != {want}"
        assert all(not box for c in golden.cores for box in c.inbox)
        dut._log.info("MNoC weights to %s: cycles %s", label, cycles)


@cocotb.test()
async def test_network(dut):
    """Random networks of the digits network's shape (tb/net/nets.py: three 3 x 3
    convolutions with a residual, a 2 x 2 max pooling and a classifier; int8, and 8/4/4
    and 8/4/2 bits, and int8 with 32 channels; a wide classifier, its kernel rows over a
    chain of three cores and, compiled without chains, on one core with weights spanning
    two MEM banks; a global average pooling split by channels) compiled for the array
    (sw/compiler_stub/array.py: each layer's output rows in bands and its output chunks
    in groups over the cores, a classifier's reduction over a chain of cores that sum
    their partial sums on the PNoC, each core holding a window of each tensor, the rows (or
    their chunks) exchanged over the ANoC, multicast to the cores that share a window,
    each layer started on every core by core 0 over the INoC): the preload and the
    input's windows written through the cores' host ports, every core started in one
    cycle, the output read back from the cores that wrote it and taken from the puts
    they send the framebuffer's place on the ANoC. Every tensor equals
    NumPy's reference and the golden array's MEM, each core's every layer runs in the
    golden array's cycles (its last run's ``cycles`` and ``vmm_steps`` equal), and the
    array's cycles equal the compiler's prediction."""
    from sw.compiler_stub.array import compile_array, load_array, output_reads, \
        read_output, write_input
    from sw.compiler_stub.network import run_reference
    from ..net.nets import digits_like, global_pool, wide_classifier
    env = ArrayEnv(dut)
    await env.start()
    rng = seeded(dut, 5)
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    figures = []
    for bits, channels in (((8, 8, 8, 8), 16), ((8, 4, 4, 4), 16), ((8, 4, 2, 4), 16),
                           ((8, 8, 8, 8), 32), ("wide", 128), ("wide", 0), ("pool", 32)):
        if bits == "wide":    # its kernel rows over a chain; or its weights over two banks
            net = wide_classifier(nrng)
        elif bits == "pool":  # a pooling split by channels, reading input slices
            net = global_pool(nrng)
        else:
            net = digits_like(nrng, bits=bits, channels=channels)
        compiled = compile_array(env.config, net, chains=channels != 0)
        x = nrng.integers(0, 1 << net.input.bits, size=net.input.shape)
        golden = load_array(compiled)
        write_input(compiled, golden, x)
        for k in range(env.n):   # the preload and the input, as the golden array has them
            for a, d in compiled.preload[k]:
                await env.write(k, a, d)
        for k in compiled.readers(net.input.name):
            a, _, n = compiled.window(net.input.name, k)
            await env.write(k, a, golden.cores[k].read(a, n))
        golden.run(compiled.entries)
        assert golden.runs == compiled.runs, "the golden array's run differs from the compiler's"
        env.ejected.clear()
        d = dut
        for k in range(env.n):
            getattr(d, f"entry__{k}").value = compiled.entries[k]
            env.sig("start", k).value = 1
        await FallingEdge(d.clk)
        for k in range(env.n):
            env.sig("start", k).value = 0
        last_busy = 0
        busy = [True] * env.n
        starts = [[0] for _ in range(env.n)]   # the cycle each core's every run began
        runs = [[] for _ in range(env.n)]       # and its cycles and VMM steps
        for cycle in range(1, 4 * compiled.cycles):
            await ReadOnly()
            now = [bool(env.sig("busy", k).value) for k in range(env.n)]
            for k in range(env.n):
                if now[k] and not busy[k]:
                    starts[k].append(cycle - 1)
                if busy[k] and not now[k]:
                    runs[k].append((int(env.sig("cycles", k).value),
                                    int(env.sig("vmm_steps", k).value)))
            busy = now
            if any(now):
                last_busy = cycle
            elif cycle > compiled.cycles + 16:
                break
            await FallingEdge(d.clk)
        await FallingEdge(d.clk)
        got = [(int(env.sig("cycles", k).value), int(env.sig("vmm_steps", k).value))
               for k in range(env.n)]
        for k in range(env.n):
            assert not env.sig("conflict", k).value, f"core {k}: a MEM bank conflict"
            # (a core's deadlock flag is no error in an array: core 0 raises it in a
            # quiet cycle of its wait for the tokens; docs/architecture.md 7.5)
            assert not env.sig("overflow", k).value, f"core {k}: a counter overflowed"
        want = [r[-1] for r in compiled.runs]
        assert got == want, f"{bits}: the cores' last layer ran {got}, the golden array {want}"
        # the output's SENDs to the framebuffer: the same addresses in the same order,
        # and the tensor they carry (the bytes past a tensor's channels in its last chunk
        # are whatever the cores' MEMs held: not compared)
        fb_want = [p.addr // env.word for _, p in golden.fb_puts]
        assert fb_want and [a for a, _ in env.ejected] == fb_want, \
            f"{bits}, {channels} channels: the framebuffer's puts go to " \
            f"{[a for a, _ in env.ejected]}, the golden array's to {fb_want}"
        lay = compiled.layouts[net.output.name]
        buf = bytearray(lay.size)
        for a, data in env.ejected:
            buf[a * env.word:(a + 1) * env.word] = data
        np.testing.assert_array_equal(lay.unpack(bytes(buf)), run_reference(net, x)[
            net.output.name], err_msg=f"{bits}: the output the framebuffer received")
        assert runs == compiled.runs, \
            f"{bits}: the cores' runs took {runs}, the golden array's {compiled.runs}"
        assert starts == compiled.starts, \
            f"{bits}: the cores' runs began in cycles {starts}, the golden array's in " \
            f"{compiled.starts}"
        assert last_busy == compiled.cycles, \
            f"{bits}: the array was busy until cycle {last_busy}, predicted {compiled.cycles}"
        ref = run_reference(net, x)
        for name in ref:
            if name == net.input.name:
                continue
            gold = read_output(compiled, lambda k, a, n, g=golden: g.cores[k].read(a, n), name)
            rtl = {}
            for k, a, _, n, _, _ in output_reads(compiled, name):
                rtl[k, a, n] = await env.read(k, a, n)
            got_t = read_output(compiled, lambda k, a, n, r=rtl: r[k, a, n], name)
            np.testing.assert_array_equal(gold, ref[name], err_msg=f"{bits}: golden {name}")
            np.testing.assert_array_equal(got_t, ref[name], err_msg=f"{bits}: RTL {name}")
        dut._log.info("network %s, %d channels, on the %d x %d array: %d cycles (VMM %.3f "
                      "busy), per layer %s", bits, channels, env.config.rows,
                      env.config.cols, compiled.cycles, compiled.utilization,
                      [r.cycles for r in compiled.report])
        figures.append({"bits": list(bits), "channels": channels, "predicted": compiled.cycles,
                        "rtl": last_busy})
    if os.environ.get("ARRAY_NETWORK_JSON"):   # for make bench (array.cycle_model_error)
        import json
        with open(os.environ["ARRAY_NETWORK_JSON"], "w") as f:
            json.dump(figures, f)

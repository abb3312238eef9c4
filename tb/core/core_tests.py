"""cocotb tests of the core: compiled layers run on the RTL, bit-exact against the golden
core and the layers' direct reference, with data-independent cycle counts."""

import os

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from sw.compiler_stub.conv import CompileError, compile_conv2d, compile_pool2d
from sw.golden.core import Core
from sw.golden.cycles import Deadlock, predict
from sw.golden.layers import conv2d_reference, pool2d_reference

from ..vectors import drive
from .env import CoreEnv
from .stimulus import (border_bytes, fitting_layer, random_pool, random_tensors, run_layer,
                       run_pool)

LAYERS = int(os.environ.get("CORE_LAYERS", "12"))


def rngs(dut, salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    return np.random.default_rng([seed, salt])


async def run_compiled(env, compiled, x, res=None):
    for addr, data in compiled.preload:
        await env.write(addr, data)
    await env.write(compiled.input.base, compiled.input.pack(x))
    if compiled.residual is not None:
        await env.write(compiled.residual.base, compiled.residual.pack(res))
    cycles, steps = await env.run(compiled.entry)
    out = await env.read(compiled.output.base, compiled.output.size)
    return compiled.output.unpack(out), cycles, steps


@cocotb.test()
async def test_random_layers(dut):
    """Random convolutions and fully connected layers at every precision: the RTL's
    output equals the golden core's and the reference's; rerunning the same program
    with other data takes exactly as many cycles. Each output has a border of 0 to 2
    positions over random bytes: the layer's preload zeroes it."""
    rng = rngs(dut, 1)
    mem = rngs(dut, 5)   # output borders and the bytes under the output
    env = CoreEnv(dut)
    await env.start()
    for n in range(LAYERS):
        layer, h, w, tensors = fitting_layer(env.config, rng, 10)
        x, wts, scale, bias = tensors[:4]
        res = tensors[4] if layer.residual else None
        try:
            compiled = compile_conv2d(env.config, layer, h, w, wts, scale, bias,
                                      out_padding=int(mem.integers(0, 3)))
        except CompileError:                  # the border made the output too large
            compiled = compile_conv2d(env.config, layer, h, w, wts, scale, bias)
        out = compiled.output
        await env.write(out.base, mem.integers(0, 256, out.size, dtype=np.uint8).tobytes())
        got, cycles, steps = await run_compiled(env, compiled, x, res)
        assert not border_bytes(out, await env.read(out.base, out.size)).any(), \
            f"layer {n}: the output's border is not zero"
        _, expected = conv2d_reference(layer, *tensors)
        _, gout = run_layer(env.config, layer, h, w, *tensors)   # the golden core
        assert np.array_equal(gout, expected)
        assert np.array_equal(got, expected), f"layer {n}: {layer} on {h}x{w}"
        x2 = random_tensors(rng, layer, h, w)[0]
        got2, cycles2, _ = await run_compiled(env, compiled, x2, res)
        assert np.array_equal(got2, conv2d_reference(layer, x2, wts, scale, bias, res)[1])
        assert cycles2 == cycles, f"cycles depend on data: {cycles} then {cycles2}"
        predicted = predict(env.config, compiled.programs)
        assert (cycles, steps) == predicted, \
            f"layer {n}: RTL took {cycles} cycles and {steps} steps, model {predicted}"
        dut._log.info("layer %d: %s on %dx%d: %d cycles, %d VMM steps", n, layer.name, h, w,
                      cycles, steps)


@cocotb.test()
async def test_pooling(dut):
    """Random max and average pooling layers (the vector passes alone) on the RTL: equal
    to the golden core and the reference, same cycles with other data, as predicted."""
    rng = rngs(dut, 3)
    env = CoreEnv(dut)
    await env.start()
    for n in range(LAYERS):
        pool, h, w, x = random_pool(rng, env.config)
        compiled = compile_pool2d(env.config, pool, h, w)
        got, cycles, _ = await run_compiled(env, compiled, x)
        assert np.array_equal(got, pool2d_reference(pool, x)), f"pool {n}: {pool} {h}x{w}"
        assert np.array_equal(run_pool(env.config, pool, h, w, x)[1], got)
        x2 = rng.permuted(x.ravel()).reshape(x.shape)   # other data of the same type
        got2, cycles2, _ = await run_compiled(env, compiled, x2)
        assert np.array_equal(got2, pool2d_reference(pool, x2))
        assert cycles2 == cycles, f"cycles depend on data: {cycles} then {cycles2}"
        assert (cycles, 0) == predict(env.config, compiled.programs)
        dut._log.info("pool %d: %s %dx%d on %dx%d: %d cycles", n, pool.kind, pool.kernel,
                      pool.kernel, h, w, cycles)


@cocotb.test(skip="CORE_LAYER" not in os.environ)
async def test_one_layer(dut):
    """Reproduce one layer: ``CORE_LAYER='{"layer": {...Conv2d fields}, "h": H, "w": W}'``
    with tensors from the seed; reports where the RTL and the reference differ."""
    import json
    from sw.golden.layers import Conv2d
    spec = json.loads(os.environ["CORE_LAYER"])
    layer = Conv2d(**spec["layer"])
    rng = rngs(dut, 2)
    env = CoreEnv(dut)
    await env.start()
    tensors = random_tensors(rng, layer, spec["h"], spec["w"])
    x, wts, scale, bias = tensors[:4]
    compiled = compile_conv2d(env.config, layer, spec["h"], spec["w"], wts, scale, bias)
    got, cycles, steps = await run_compiled(env, compiled, x, *tensors[4:])
    _, expected = conv2d_reference(layer, *tensors)
    bad = np.argwhere(got != expected)
    dut._log.info("%d cycles, %d steps, model %s; %d mismatches, first %s", cycles, steps,
                  predict(env.config, compiled.programs), len(bad), bad[:8].tolist())
    for t, program in enumerate(compiled.programs[:3]):
        dut._log.info("T%d: %s", t, "; ".join(map(str, program)))
    assert not len(bad)


@cocotb.test()
async def test_noc_ports(dut):
    """T4 multicasts bank 2 to the whole array, then puts a MEM region to core (1, 0) over
    the ANoC and signals its last word there; T6 waits for two remote SIGNALs (puts that
    arrive on the MNoC and the INoC, at random cycles, into bank 2 while T4 streams from
    it) and for T4's bank 2 stream, then puts back what they wrote. Random stalls on every
    output. The MEM the puts
    wrote, every flit sent (cycle, destination, address, data, signal) and the cycles
    equal the golden core's."""
    from sw.compiler_stub.asm import assemble
    from sw.golden.cycles import Put
    from sw.golden.noc import Flit
    from .env import NocPorts, run_ports
    from .programs import stalls
    rng = rngs(dut, 4)
    pyrng = __import__("random").Random(int(rng.integers(1 << 30)))
    env = CoreEnv(dut)
    await env.start()
    cfg, word, n = env.config, env.word, 24
    bank = cfg.sram_bank_bytes
    text = f"""
    .remote ctr=2 count=2
    .thread 4
        AGBASE g=1 base={2 * bank}
        AGDIM g=1 d=0 count={2 * n} stride={word}
        SEND s=1 d=1 x0=0 x1=1 y0=0 y1=1
        SIGNAL ctr=3
        AGBASE g=0 base={3 * bank}
        AGDIM g=0 d=0 count={n} stride={word}
        AGBASE g=1 base={bank}
        AGDIM g=1 d=0 count={n} stride={word}
        SEND s=0 d=1 x0=1 x1=1 y0=0 y1=0 signal=1 ctr=9
        END
    .thread 6
        WAIT ctr=2
        WAIT ctr=2
        WAIT ctr=3
        AGBASE g=0 base={2 * bank}
        AGDIM g=0 d=0 count={n} stride={word}
        SEND s=0 d=0 x0=0 x1=0 y0=0 y1=0
        END
    """
    image = assemble(text, cfg).image()
    region = rng.integers(0, 256, size=4 * bank - bank // 2, dtype=np.uint8).tobytes()
    # n puts on the MNoC and n on the INoC into bank 2, the last of each signalling.
    arrivals = [[], [], [], []]
    for p in (2, 3):
        cycles = sorted(pyrng.randrange(40) for _ in range(n))   # while T4 runs
        arrivals[p] = [(c, Flit(Put(2 * bank + word * (2 * k + p - 2),
                                    pyrng.randbytes(word), k == n - 1, 2), 0, 0, 0, 0, 1))
                       for k, c in enumerate(cycles)]
    out_ready, table = stalls(pyrng, 0.3)
    golden = Core(cfg, rows=env.mesh[0], cols=env.mesh[1])
    golden.write(0, image)
    golden.write(bank // 2, region)
    expected = golden.run(0, arrivals=arrivals, out_ready=out_ready)
    await env.write(0, image)
    await env.write(bank // 2, region)
    ports = NocPorts(env, arrivals, table)
    got = await run_ports(env, 0, ports)
    assert got == ("finish", *expected), f"RTL {got}, golden {expected}"
    assert not dut.conflict.value
    for p in range(4):
        assert ports.sent[p] == golden.sent[p], f"port {p}: flits differ"
    assert sum(map(len, ports.sent)) == 4 * n
    mem = await env.read(bank // 2, len(region))
    assert mem == golden.read(bank // 2, len(region))


@cocotb.test()
async def test_mnoc_weights(dut):
    """T0 takes four weight tiles, the first and the last two as weight puts arriving on
    the MNoC (with random gaps, ordinary puts into T0's bank among them, waiting behind
    the weight puts), the second from MEM; T1 runs three steps on each tile (signalling
    the last result); T2 loads its constants and VPOSTs the twelve results (scale 1,
    bias 0, identity, int8) to MEM. The RTL's outputs, MEM and cycles equal the golden
    core's, the outputs a NumPy matmul of the tiles and the activations, and no flit is
    left in a FIFO."""
    from sw.compiler_stub.asm import assemble
    from sw.golden.cycles import Put
    from sw.golden.noc import Flit
    from .env import NocPorts, run_ports
    from .programs import steps_and_post
    rng = rngs(dut, 6)
    pyrng = __import__("random").Random(int(rng.integers(1 << 30)))
    env = CoreEnv(dut)
    await env.start()
    cfg, word = env.config, env.word
    bank, rows, cols = cfg.sram_bank_bytes, cfg.vmm_rows, cfg.vmm_cols
    tiles, per = 4, 3   # tiles, steps a tile
    steps = tiles * per
    out_base, const_base = 3 * bank + 512, 3 * bank
    text = f"""
    .thread 0
        AGDIM g=0 d=0 count={rows} stride=0
        WSTREAM s=0 prec=0 act_signed=1 noc=1
        AGBASE g=1 base={bank}
        AGDIM g=1 d=0 count={rows} stride={word}
        WSTREAM s=1 prec=0 act_signed=1
        AGDIM g=0 d=0 count={2 * rows} stride=0
        WSTREAM s=0 prec=0 act_signed=1 noc=1
        END
    """ + steps_and_post(word, rows, steps, per, 2 * bank, const_base, out_base)
    image = assemble(text, cfg).image()
    w = rng.integers(-3, 4, size=(tiles, rows, cols)).astype(np.int8)
    act = rng.integers(-3, 4, size=(steps, cols)).astype(np.int8)
    # Bank 1: tile 1's rows (and puts' targets); bank 2: the activations; bank 3: the
    # constants, VBUF[0] scale 1.0, VBUF[1] bias +0, VBUF[2] p0 = 1.0 (leaky ReLU x 1).
    mem1 = bytearray(rng.integers(0, 256, size=bank, dtype=np.uint8).tobytes())
    for r in range(rows):
        mem1[r * word:r * word + cols] = w[1, r].tobytes()
    mem2 = b"".join(a.tobytes() + bytes(word - cols) for a in act)
    one = np.full(rows, 0x3C00, dtype="<u2").tobytes()
    consts = (one + bytes(-len(one) % word)) + bytes(word) + \
        (np.array([0x3C00] + [0] * (rows - 1), dtype="<u2").tobytes() + bytes(-len(one) % word))
    weights = [w[t, r].tobytes() + pyrng.randbytes(word - cols)
               for t in (0, 2, 3) for r in range(rows)]
    flits = [Flit(Put(pyrng.randrange(1 << 10) * word, data, False, 0, False, True),
                  0, 0, 0, 0, 1) for data in weights]
    for _ in range(5):   # ordinary puts on the MNoC, behind weight puts, into bank 1
        flits.insert(pyrng.randrange(1, len(flits) + 1),
                     Flit(Put(bank + word * pyrng.randrange(64, bank // word),
                              pyrng.randbytes(word), False, 0), 0, 0, 0, 0, 1))
    tries = 0
    while True:   # random gaps, until the core never waits quietly (a deadlock alone)
        tries += 1
        assert tries <= 100, "no arrival pattern without a quiet cycle"
        cycles, cycle = [], pyrng.randrange(30)
        for _ in flits:
            cycle += pyrng.choice([0, 0, 1, 1, 2, 3, 5])
            cycles.append(cycle)
        arrivals = [[], [], list(zip(cycles, flits, strict=True)), []]
        golden = Core(cfg, rows=env.mesh[0], cols=env.mesh[1])
        for addr, data in ((0, image), (bank, mem1), (2 * bank, mem2), (const_base, consts)):
            golden.write(addr, data)
        try:
            expected = golden.run(0, arrivals=arrivals)
            break
        except Deadlock:
            continue
    dut._log.info("gaps drawn %d times; arrivals at %s", tries, cycles)
    for addr, data in ((0, image), (bank, mem1), (2 * bank, mem2), (const_base, consts)):
        await env.write(addr, data)
    ports = NocPorts(env, arrivals)
    got = await run_ports(env, 0, ports)
    assert got == ("finish", *expected), f"RTL {got}, golden {expected}"
    assert expected[1] == steps
    assert not dut.conflict.value
    assert not any(ports.queues[2]) and not any(map(len, golden.inbox))
    mem = await env.read(bank, 3 * bank)
    assert mem == golden.read(bank, 3 * bank), "MEM differs"
    out = np.frombuffer(golden.read(out_base, steps * rows), dtype=np.int8).reshape(steps, rows)
    want = np.stack([w[i // per].astype(np.int64) @ act[i].astype(np.int64)
                     for i in range(steps)])
    assert np.array_equal(out, want), f"outputs {out} != NumPy {want}"
    dut._log.info("MNoC weights: %d cycles, %d steps", *expected)


@cocotb.test(skip="VECTORS" not in os.environ)
async def test_vectors(dut):
    """A user's own vectors, from ``python -m tb.vectors``."""
    await drive(CoreEnv(dut))


PROGRAMS = int(os.environ.get("CORE_PROGRAMS", "2000"))   # CI: at least 500


async def run_until_flag(env, entry, max_cycles=100_000):
    """Start the core at ``entry``; return ``("finish", cycles, steps)`` when it is done or
    ``("deadlock", cycles)`` in the first cycle ``deadlock`` is seen (``cycles`` read
    then: the cycle count of the cycle in which nothing moved)."""
    d = env.dut
    d.entry.value = entry
    d.start.value = 1
    await FallingEdge(d.clk)
    d.start.value = 0
    await FallingEdge(d.clk)
    for _ in range(max_cycles):
        await ReadOnly()
        if d.deadlock.value:
            return ("deadlock", int(d.cycles.value))
        if not d.busy.value:
            return ("finish", int(d.cycles.value), int(d.vmm_steps.value))
        await FallingEdge(d.clk)
    raise TimeoutError(f"the core ran more than {max_cycles} cycles")


async def reset(env):
    """Recover a deadlocked core: three cycles of ``rst``."""
    d = env.dut
    await FallingEdge(d.clk)
    d.rst.value = 1
    for _ in range(3):
        await FallingEdge(d.clk)
    d.rst.value = 0


@cocotb.test()
async def test_random_programs(dut):
    """Random programs that the assembler's static checks accept (tb/core/programs.py),
    with random puts arriving at every NoC input (into the banks the threads stream in,
    some signalling the counters the threads wait on) and random stalls of 0, 25 or 50 %
    on every output: each finishes on the RTL in exactly the golden core's cycles and VMM
    steps, sending the same flits in the same cycles, or raises ``deadlock`` in the cycle
    the golden core reports its deadlock (then the core is reset). The golden core equals
    the cycle model (tb/unit/test_core_fuzz.py)."""
    import random
    from sw.compiler_stub.asm import disassemble
    from sw.golden.cycles import Deadlock, Psum
    from sw.compiler_stub.asm import Program
    from .env import NocPorts, run_ports
    from .programs import chained, random_program, random_puts, stalls
    nrng = rngs(dut, 5)
    rng = random.Random(int(nrng.integers(1 << 62)))

    def strip(sent):
        """The flits sent, cycles and all, without their data (a put's word, a PNoC
        vector's sums)."""
        return [[(c, f._replace(sums=None) if isinstance(f, Psum) else
                  f._replace(payload=f.payload._replace(data=None))) for c, f in q]
                for q in sent]

    env = CoreEnv(dut)
    await env.start()
    kinds = {"finish": 0, "deadlock": 0}
    chains = flits = puts = 0
    for n in range(PROGRAMS):
        # Every fourth run is a chain of two or three images (NEXT), in bank 0's lower
        # half (above it the NoC threads' words): one run, the images' cycles summed.
        images = None
        if n % 4 == 3:
            progs = [random_program(rng, env.config) for _ in range(rng.choice([2, 3]))]
            entries = [0]
            for prog in progs[:-1]:
                entries.append(entries[-1] + len(prog.image()) + 8 * env.word)
            images = chained(progs, entries)
            if images and entries[-1] + len(images[-1][1]) > env.config.sram_bank_bytes // 2:
                images = None
        if images is None:
            progs = [random_program(rng, env.config)]
            images = [(0, progs[0].image())]
        arrivals = random_puts(rng, env.config)
        out_ready, table = stalls(rng, rng.choice([0, 0.25, 0.5]))
        golden = Core(env.config, rows=env.mesh[0], cols=env.mesh[1])
        for entry, image in images:
            golden.write(entry, image)
        try:
            expected = ("finish", *golden.run(0, arrivals=arrivals, out_ready=out_ready))
        except Deadlock as exc:
            expected = ("deadlock", exc.cycle)
        for entry, image in images:
            await env.write(entry, image)
        chains += len(images) > 1
        ports = NocPorts(env, arrivals, table)
        got = await run_ports(env, 0, ports)
        assert got == expected, f"program {n}: RTL {got}, golden core {expected}\n" + \
            "\n".join(disassemble(Program.from_image(image, env.config,
                                                     check_deadlock=False))
                      for _, image in images) + f"\narrivals {arrivals}"
        kinds[got[0]] += 1
        if got[0] == "deadlock":
            assert dut.busy.value, f"program {n}: the core left a deadlock by itself\n" + \
                "\n".join(disassemble(Program.from_image(image, env.config,
                                                         check_deadlock=False))
                          for _, image in images) + f"\narrivals {arrivals}"
            await reset(env)
        else:
            # (the data differ: the RTL's MEM keeps what earlier programs wrote)
            assert strip(ports.sent) == strip(golden.sent), \
                f"program {n}: the flits sent differ"
            assert not dut.deadlock.value and not dut.overflow.value
            flits += sum(map(len, ports.sent))
            puts += sum(map(len, arrivals)) - sum(map(len, ports.queues))
            if golden.inbox[NocPorts.PNOC]:   # partial sums left in the PNoC input (the
                await reset(env)             # golden core of the next program has none)
    dut._log.info("%d random programs (%d chains of images): %s; %d flits sent, %d puts "
                  "received in finished runs", PROGRAMS, chains, kinds, flits, puts)
    assert min(kinds.values()) > PROGRAMS // 5, kinds
    assert chains > PROGRAMS // 8, chains


DATA_PROGRAMS = int(os.environ.get("CORE_DATA_PROGRAMS", "400"))


@cocotb.test()
async def test_random_programs_data(dut):
    """Random programs whose threads race on shared data (no NoC; every stream in its
    thread's own bank): one golden core follows the RTL through all of them, and every
    MEM word the golden core writes (VSTOREs, from VLOAD, VCVT, VOP, VACT results over
    the VMM's, and VPOSTs) equals the RTL's, as do the outcome and cycles. Banks 1 to 3
    and bank 0's upper half (pair WSTREAMs' second rows, VPOST residuals) start with
    random data; the PSB and VBUF carry over from program to program in both (a deadlock
    leaves nothing in flight, so the reset between programs loses nothing). The images
    load at the top of bank 3 (tb/core/programs.py, ``data_entry``)."""
    import random
    from sw.compiler_stub.asm import assemble, disassemble
    from sw.golden.core import Core, Deadlock
    from .programs import data_entry, random_program

    class Recording(Core):
        """The golden core, recording the MEM words its T2 writes."""
        def _v_retire(self, effect):
            target, index, _ = effect
            if target is self.mem:
                self.written.update(range(index.start // self.word,
                                          (index.stop - 1) // self.word + 1))
            super()._v_retire(effect)

    nrng = rngs(dut, 6)
    rng = random.Random(int(nrng.integers(1 << 62)))
    env = CoreEnv(dut)
    await env.start()
    cfg, word = env.config, env.word
    golden = Recording(cfg)
    half = cfg.sram_bank_bytes // 2
    data = nrng.integers(0, 256, size=cfg.sram_bytes - half, dtype=np.uint8)
    golden.write(half, data.tobytes())
    await env.write(half, data.tobytes())
    # Every 8 programs, T2 stores VBUF[0..128) and then fp16(PSB[0..256) * 2**-8) to
    # bank 3's first 1.5 KiB (the random programs stream in its middle): every word of
    # them is compared. (Half of each with the ulx3s core's 128-entry buffers.)
    vb, pb = min(128, cfg.vbuf_entries), min(256, cfg.psb_entries)
    dump = assemble(f"""
    .thread 2
        AGDIM g=0 d=0 count={vb} stride=1
        AGBASE g=1 base={3 * cfg.sram_bank_bytes}
        AGDIM g=1 d=0 count={vb} stride=4
        VSTORE s=0 d=1 prec=0
        AGDIM g=0 d=0 count={pb} stride=1
        AGDIM g=2 d=0 count={pb} stride=1
        VCVT s=0 d=2 shift=8
        AGBASE g=3 base={3 * cfg.sram_bank_bytes + 512}
        AGDIM g=3 d=0 count={pb} stride=4
        VSTORE s=2 d=3 prec=0
        END
    """, cfg)
    kinds, compared = {"finish": 0, "deadlock": 0}, 0
    for n in range(DATA_PROGRAMS):
        prog = dump if n % 8 == 7 else random_program(rng, cfg, noc=False, setup=True)
        entry = data_entry(cfg)
        assert len(prog.image()) <= 2048, len(prog.image())
        golden.write(entry, prog.image())
        golden.written = set()
        try:
            expected = ("finish",) + golden.run(entry)
        except Deadlock as exc:
            expected = ("deadlock", exc.cycle)
        await env.write(entry, prog.image())
        got = await run_until_flag(env, entry)
        assert got == expected, f"program {n}: RTL {got}, golden core {expected}\n" \
                                f"{disassemble(prog)}"
        kinds[got[0]] += 1
        assert not dut.conflict.value, f"program {n}: a bank conflict\n{disassemble(prog)}"
        assert golden.conflict is None, f"program {n}: the golden core's {golden.conflict}"
        if got[0] == "deadlock":
            await reset(env)
        else:
            await FallingEdge(dut.clk)
        words = sorted(golden.written)
        while words:   # contiguous runs of words in one read each
            k = 1
            while k < len(words) and words[k] == words[0] + k:
                k += 1
            addr, length = words[0] * word, k * word
            rtl, ref = await env.read(addr, length), golden.read(addr, length)
            for j in range(0, length, word):
                assert rtl[j:j + word] == ref[j:j + word], \
                    f"program {n}: MEM word at {addr + j:#x}: RTL {rtl[j:j + word].hex()}, " \
                    f"golden {ref[j:j + word].hex()}\n{disassemble(prog)}"
            compared += k
            words = words[k:]
    dut._log.info("%d random programs: %s; %d MEM words compared", DATA_PROGRAMS, kinds,
                  compared)
    # At least the dumps' words (every 8th program) were compared.
    assert compared >= DATA_PROGRAMS // 8 * 4 * (vb + pb) // word, compared


@cocotb.test()
async def test_counter_overflow(dut):
    """The core's ``n`` threads (eight, or six without spare threads) signal counter 5
    65536 times in all, ``c_k = 65536 // n`` times each (one more for the first ``65536 %
    n``): the RTL's ``overflow`` rises in the cycle the cycle model reports the
    overflow; the counter wraps to 0 and the run goes on to its end.

    The ``k``-th thread (4 instructions) starts as its last one loads and runs from cycle
    ``3 + d + 4 * (k + 1)`` (``d = 2 * (mem_latency - 1)``: the load's two reads that
    wait longer for their data): LOOP, then SIGNAL and ENDL ``c_k`` times, then END.
    Every SIGNAL falls on an even cycle; T7's last, at ``2 + d + 4 * n + 2 * c_last``, is
    the 65536th and the only one of its cycle (every other thread's last is at least 2
    cycles before), so it alone takes the counter past 65535."""
    from sw.compiler_stub.asm import assemble
    from sw.golden.cycles import CounterOverflow, predict
    env = CoreEnv(dut)
    await env.start()
    d = 2 * (env.config.mem_latency - 1)
    threads = env.config.threads
    n = len(threads)
    counts = [65536 // n + (k < 65536 % n) for k in range(n)]
    text = "".join(f".thread {t}\nLOOP count={c}\nSIGNAL ctr=5\nENDL\nEND\n"
                   for t, c in zip(threads, counts, strict=True))
    prog = assemble(text, env.config, check_deadlock=False)
    try:
        predict(env.config, prog.threads)
        raise AssertionError("the cycle model did not report the overflow")
    except CounterOverflow as exc:
        expected = exc.cycle
        assert exc.counter == 5 and exc.threads == [(7, 1)], exc.threads
    assert expected == 2 + d + 4 * n + 2 * counts[-1], expected
    await env.write(0, prog.image())
    dut.entry.value = 0
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    seen = None
    for _ in range(expected + 100):
        await ReadOnly()
        if dut.overflow.value and seen is None:
            seen = int(dut.cycles.value)
        if not dut.busy.value:
            break
        await FallingEdge(dut.clk)
    assert seen == expected, f"overflow seen at cycle {seen}, model {expected}"
    assert not dut.deadlock.value
    # T7's last SIGNAL took the counter from 65535 to 65536: it wrapped to 0, and with
    # nothing waiting the run ended as without the overflow. T7, the last to end: the
    # header, 1 per instruction (4 per thread), the last write and its start; then LOOP,
    # the iterations, END, and the cycle with nothing running.
    cycles = int(dut.cycles.value)
    assert cycles == 2 + d + n * 4 + 1 + 2 * counts[-1] + 1 + 1, cycles


@cocotb.test(skip="CORE_PROGRAMS_FILE" not in os.environ)
async def test_program_file(dut):
    """Reproduce: run the programs of ``CORE_PROGRAMS_FILE`` (assembler text, programs
    separated by lines ``---``) as test_random_programs does; log the RTL's and the cycle
    model's outcome of each, and fail if any differs."""
    from sw.compiler_stub.asm import assemble
    from sw.golden.cycles import CycleModel, Deadlock
    from rtl.spec.isa import NOC_PORTS
    env = CoreEnv(dut)
    await env.start()
    for name in NOC_PORTS:
        getattr(dut, f"noc__{name}__i__valid").value = 1
    texts = open(os.environ["CORE_PROGRAMS_FILE"]).read().split("\n---\n")
    differ = []
    for n, text in enumerate(texts):
        prog = assemble(text, env.config, check_deadlock=False)
        try:
            expected = ("finish",) + CycleModel(env.config).run(prog.threads)
        except Deadlock as exc:
            expected = ("deadlock", exc.cycle)
        await env.write(0, prog.image())
        got = await run_until_flag(env, 0)
        dut._log.info("program %d: RTL %s, cycle model %s", n, got, expected)
        if got != expected:
            differ.append(n)
        if got[0] == "deadlock":
            await reset(env)
        else:
            await FallingEdge(dut.clk)
    assert not differ, f"programs {differ} differ"


@cocotb.test()
async def test_pnoc_port(dut):
    """T1's SSTREAMs over the PNoC, random stalls on every output: (1) partial sums from
    the PNoC input (offered from random cycles; zero for the first two steps), results
    out to a random neighbour; (2) partial sums from the PNoC, results to the PSB; (3)
    partial sums from the PSB, results out to another random neighbour. Every vector
    sent (cycle, sums, direction) and the cycles equal the golden core's, and the sums
    equal NumPy's ``W @ a + p`` and ``2 W @ a + p`` (int32, wrapping)."""
    import random
    from sw.compiler_stub.asm import assemble
    from sw.golden.cycles import Psum
    from .env import NocPorts, run_ports
    from .programs import stalls
    rng = rngs(dut, 7)
    pyrng = random.Random(int(rng.integers(1 << 30)))
    env = CoreEnv(dut)
    await env.start()
    cfg, word, n = env.config, env.word, 12
    rows, cols, bank = cfg.vmm_rows, cfg.vmm_cols, cfg.sram_bank_bytes
    d1, d2 = pyrng.randrange(4), pyrng.randrange(4)
    text = f"""
    .thread 0
        AGBASE g=0 base={bank}
        AGDIM g=0 d=0 count={rows} stride={word}
        LOOP count=3
        WSTREAM s=0 prec=0 act_signed=1
        ENDL
        END
    .thread 1
        AGBASE g=0 base={2 * bank}
        AGDIM g=0 d=0 count={n} stride={word}
        AGBASE g=1 base=0
        AGDIM g=1 d=0 count={n} stride=1
        SSTREAM s=0 d=1 zero=2 period={n} pin=1 pout=1 dir={d1}
        SSTREAM s=0 d=1 zero=0 period={n} pin=1 pout=0
        SSTREAM s=0 d=1 zero=0 period={n} pin=0 pout=1 dir={d2}
        END
    """
    image = assemble(text, cfg).image()
    w = rng.integers(-128, 128, size=(rows, cols), dtype=np.int8)
    a = rng.integers(-128, 128, size=(n, cols), dtype=np.int8)
    region = bytearray(3 * bank)   # a row of W, a vector of a: a MEM word each
    for r in range(rows):
        region[r * word:r * word + cols] = w[r].tobytes()
    for i in range(n):
        region[bank + i * word:bank + i * word + cols] = a[i].tobytes()
    # n - 2 vectors for the first SSTREAM, n for the second, near the int32 limits.
    sums = [np.array([pyrng.randrange(-(1 << 31), 1 << 31) for _ in range(rows)])
            for _ in range(2 * n - 2)]
    # Offered early (from when on each waits at the input until taken): a core alone
    # whose T1 waits for a vector that comes later raises ``deadlock`` (7.5).
    cycles = sorted(pyrng.randrange(40) for _ in sums)
    arrivals = [[], [(c, Psum(v, 0)) for c, v in zip(cycles, sums, strict=True)], [], []]
    out_ready, table = stalls(pyrng, 0.4)
    golden = Core(cfg, rows=env.mesh[0], cols=env.mesh[1])
    golden.write(0, image)
    golden.write(bank, bytes(region))
    expected = golden.run(0, arrivals=arrivals, out_ready=out_ready)
    await env.write(0, image)
    await env.write(bank, bytes(region))
    ports = NocPorts(env, arrivals, table)
    got = await run_ports(env, 0, ports)
    assert got == ("finish", *expected), f"RTL {got}, golden {expected}"
    assert not dut.conflict.value

    def plain(sent):
        return [(c, tuple(int(v) for v in f.sums), f.dir) for c, f in sent]

    assert plain(ports.sent[1]) == plain(golden.sent[1]), "the PNoC vectors differ"
    assert not any(ports.sent[p] for p in (0, 2, 3))
    # NumPy: W @ a + p, wrapped to int32; the second pass's PSB holds W @ a + p too.
    prod = a.astype(np.int64) @ w.astype(np.int64).T
    want = [prod[i] + (sums[i - 2] if i >= 2 else 0) for i in range(n)]
    want += [prod[i] + sums[n - 2 + i] + prod[i] for i in range(n)]
    want = [((v + (1 << 31)) % (1 << 32)) - (1 << 31) for v in want]
    assert [s for _, s, _ in plain(ports.sent[1])] == [tuple(int(x) for x in v) for v in want]
    assert [f.dir for _, f in ports.sent[1]] == [d1] * n + [d2] * n
    dut._log.info("PNoC: %d vectors in, %d out, %s cycles", len(sums), 2 * n, expected)

// A C++ harness around a Verilated NoC mesh (rtl/noc/mesh.py), for ctypes: a whole
// traffic run is one call, so the clock and the injection and ejection agents run here,
// not in Python.
//
// Built by tb/noc/verilated.py around the top it generates (`harness_<mesh>`), whose ports
// are the mesh's node ports flattened into vectors, node n = y * cols + x at bit n (or
// bits n * FLIT_BITS and up): `i_valid`, `i_payload`, `i_ready` (injection) and `o_valid`,
// `o_payload`, `o_ready` (ejection). The model's class is `Vmesh` (`--prefix Vmesh`), and
// two constants give the mesh's size:
//   HARNESS_NODES      nodes (rows * cols)
//   HARNESS_FLIT_BITS  bits of a flit (rtl/noc/flit.py's layout)
//
// A flit crosses the interface as FLIT_WORDS 32-bit words, least significant first.
//
// Timing is that of the cocotb environment (tb/noc/env.py, MeshEnv.run): in each cycle
// the inputs are set (while the clock is low), the combinational outputs are sampled
// before the rising edge (an injection is accepted when `i_valid` and `i_ready` are both
// high, a flit delivered when `o_valid` and `o_ready` are), then the clock rises. An
// injection port with flits left and not offering one starts offering its next flit
// unless its stall table idles it in that cycle, and holds the offer until it is taken;
// an ejection port is ready when its stall table says so. The stall tables are cyclic:
// port n's bit in cycle c is table[n * period + c % period].
//
// A run ends `settle` cycles after the cycle in which the `total`-th delivery happened
// (kDone; deliveries in those cycles are recorded too), when `quiet` cycles have passed
// without an accept or a delivery before that (kNoProgress: the watchdog), after
// `max_cycles` cycles (kTimeout), or when a delivery finds the trace full (kOverflow).
// Cycles are counted from 0 in each run; the mesh keeps its state between runs.
//
// Not thread-safe: one thread at a time per mesh. Assumes a little-endian host.

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "Vmesh.h"
#include "Vmesh___024root.h"  // the clock edge detector's state (tick())
#include "verilated.h"

#ifndef HARNESS_NODES
#error "HARNESS_NODES must be defined (nodes of the mesh)"
#endif
#ifndef HARNESS_FLIT_BITS
#error "HARNESS_FLIT_BITS must be defined (bits of a flit)"
#endif

#define HARNESS_API extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kNodes = HARNESS_NODES;
constexpr int kFlitBits = HARNESS_FLIT_BITS;
constexpr int kFlitWords = (kFlitBits + 31) / 32;
constexpr int kNodeWords = (kNodes + 31) / 32;
constexpr int kAllWords = (kNodes * kFlitBits + 31) / 32;
constexpr int kResetCycles = 3;

// Status codes of harness_run; negative: errors.
enum : int {
    kDone        = 0,
    kNoProgress  = 1,
    kTimeout     = 2,
    kOverflow    = 3,
    kErrArgument = -1,
};

// A port of up to 64 bits (CData, SData, IData, QData) or a wide one (VlWide's 32-bit
// words), from and to 32-bit words, least significant first.
template <typename T>
inline void put_words(T& port, const uint32_t* w) {
    uint64_t value = w[0];
    if (sizeof(T) > 4) value |= static_cast<uint64_t>(w[1]) << 32;
    port = static_cast<T>(value);
}

template <typename T>
inline void get_words(const T& port, uint32_t* w) {
    uint64_t value = port;
    w[0] = static_cast<uint32_t>(value);
    if (sizeof(T) > 4) w[1] = static_cast<uint32_t>(value >> 32);
}

template <std::size_t N>
inline void put_words(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}

template <std::size_t N>
inline void get_words(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}

inline bool bit(const uint32_t* w, int i) { return w[i >> 5] >> (i & 31) & 1; }

inline void set_bit(uint32_t* w, int i) { w[i >> 5] |= 1u << (i & 31); }

// Copy `bits` bits from `src` at bit `from` to `dst` at bit `to` (dst's bits cleared
// first), one bit at a time: flits are a few dozen bits.
inline void copy_bits(const uint32_t* src, int from, uint32_t* dst, int to, int bits) {
    for (int k = 0; k < bits; ++k) {
        int d = to + k;
        dst[d >> 5] &= ~(1u << (d & 31));
        if (bit(src, from + k)) dst[d >> 5] |= 1u << (d & 31);
    }
}

}  // namespace

struct HarnessMesh {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vmesh> top;
    uint32_t payload[kAllWords + 1] = {};  // the i_payload vector as last set
    uint64_t clocks = 0;                   // rising edges since creation

    HarnessMesh() : context(new VerilatedContext), top(new Vmesh(context.get(), "mesh")) {}

    // The rising edge; the falling edge is not evaluated (as in sw/runtime/harness.cpp):
    // the model's record of the clock's last value is set to 0, as the falling edge's
    // eval() would set it, and the next eval() (with the next cycle's inputs) settles the
    // logic without an edge.
    inline void tick() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->rootp->__Vtrigprevexpr___TOP__clk__0 = 0;
        ++clocks;
    }

    void idle_inputs() {
        const uint32_t zero[kNodeWords + 1] = {};
        put_words(top->i_valid, zero);
        put_words(top->o_ready, zero);
    }

    void reset() {
        idle_inputs();
        top->rst = 1;
        for (int i = 0; i < kResetCycles; ++i) tick();
        top->rst = 0;
        top->eval();
    }
};

HARNESS_API HarnessMesh* harness_create(void) {
    HarnessMesh* mesh;
    try {
        mesh = new HarnessMesh;
    } catch (...) {  // no C++ exception may cross the C interface
        return nullptr;
    }
    mesh->top->clk = 0;
    mesh->idle_inputs();
    mesh->top->eval();
    mesh->reset();
    return mesh;
}

HARNESS_API void harness_destroy(HarnessMesh* mesh) {
    if (!mesh) return;
    mesh->top->final();
    delete mesh;
}

HARNESS_API uint32_t harness_nodes(void) { return kNodes; }

HARNESS_API uint32_t harness_flit_bits(void) { return kFlitBits; }

HARNESS_API void harness_reset(HarnessMesh* mesh) { mesh->reset(); }

HARNESS_API uint64_t harness_clocks(HarnessMesh* mesh) { return mesh->clocks; }

// One traffic run (see the top of this file).
//
// flits        every node's flits to inject, node 0's first: FLIT_WORDS words each
// starts       nodes + 1 indices into the flits: node n sends flits starts[n]..starts[n+1]-1
// idle, ready  nodes * period bytes: injection port n idles in cycle c when
//              idle[n * period + c % period]; ejection port n is ready when ready[...]
// accepted     out: the cycle each flit was accepted (flit order; untouched if never)
// del_cycle, del_node, del_flit  out: each delivery's cycle, node and flit (FLIT_WORDS
//              words), in order of cycle, then node; room for `capacity` deliveries
// out_count, out_cycles  out: deliveries recorded, cycles run
HARNESS_API int harness_run(HarnessMesh* mesh, const uint32_t* flits, const uint64_t* starts,
                            const uint8_t* idle, const uint8_t* ready, uint64_t period,
                            uint64_t total, uint64_t settle, uint64_t quiet,
                            uint64_t max_cycles, uint32_t* accepted, uint32_t* del_cycle,
                            uint32_t* del_node, uint32_t* del_flit, uint64_t capacity,
                            uint64_t* out_count, uint64_t* out_cycles) {
    if (!starts || !idle || !ready || !accepted || !out_count || !out_cycles || period == 0 ||
        quiet == 0 || (capacity && (!del_cycle || !del_node || !del_flit)))
        return kErrArgument;
    if (starts[kNodes] && !flits) return kErrArgument;
    for (int n = 0; n < kNodes; ++n)
        if (starts[n] > starts[n + 1]) return kErrArgument;
    Vmesh* top = mesh->top.get();
    std::vector<uint64_t> pos(starts, starts + kNodes);
    std::vector<uint8_t> offering(kNodes, 0);
    uint32_t valid[kNodeWords + 1], rdy[kNodeWords + 1], iready[kNodeWords + 1];
    uint32_t ovalid[kNodeWords + 1], opayload[kAllWords + 1];
    uint64_t count = 0, last_progress = 0, end = 0, cycle = 0;
    bool ending = false;
    int status = kDone;
    for (;; ++cycle) {
        if (ending && cycle > end) break;
        if (cycle >= max_cycles) {
            status = kTimeout;
            break;
        }
        const uint64_t phase = cycle % period;
        std::memset(valid, 0, sizeof valid);
        std::memset(rdy, 0, sizeof rdy);
        for (int n = 0; n < kNodes; ++n) {
            if (!offering[n] && pos[n] < starts[n + 1] && !idle[n * period + phase]) {
                offering[n] = 1;
                copy_bits(flits + pos[n] * kFlitWords, 0, mesh->payload, n * kFlitBits,
                          kFlitBits);
            }
            if (offering[n]) set_bit(valid, n);
            if (ready[n * period + phase]) set_bit(rdy, n);
        }
        put_words(top->i_valid, valid);
        put_words(top->i_payload, mesh->payload);
        put_words(top->o_ready, rdy);
        top->eval();
        get_words(top->i_ready, iready);
        get_words(top->o_valid, ovalid);
        get_words(top->o_payload, opayload);
        bool progress = false;
        for (int n = 0; n < kNodes; ++n) {
            if (offering[n] && bit(iready, n)) {
                accepted[pos[n]] = static_cast<uint32_t>(cycle);
                ++pos[n];
                offering[n] = 0;
                progress = true;
            }
        }
        for (int n = 0; n < kNodes; ++n) {
            if (!bit(rdy, n) || !bit(ovalid, n)) continue;
            if (count == capacity) {
                status = kOverflow;
                break;
            }
            del_cycle[count] = static_cast<uint32_t>(cycle);
            del_node[count] = static_cast<uint32_t>(n);
            uint32_t* f = del_flit + count * kFlitWords;
            std::memset(f, 0, kFlitWords * 4);
            copy_bits(opayload, n * kFlitBits, f, 0, kFlitBits);
            ++count;
            progress = true;
        }
        if (status == kOverflow) break;
        mesh->tick();
        if (!ending) {
            if (progress) {
                last_progress = cycle;
            } else if (cycle - last_progress >= quiet) {
                status = kNoProgress;
                ++cycle;
                break;
            }
            if (count >= total) {
                ending = true;
                end = cycle + settle;
            }
        }
    }
    const uint32_t zero[kNodeWords + 1] = {};
    put_words(top->i_valid, zero);
    *out_count = count;
    *out_cycles = cycle;
    return status;
}

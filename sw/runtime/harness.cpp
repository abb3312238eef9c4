// A C++ harness around the Verilated core (the `core` design of rtl/designs.py), for
// ctypes: the clock runs here, so a run costs Python a handful of calls, not one per edge.
//
// Built by sw/runtime/verilated.py around the top it generates (`harness_core_<config>`:
// the core with its NoC ports tied idle and its `rst` registered), with the model's class
// named `Vcore` (Verilator's `--prefix Vcore`) and two constants of the configuration:
//   HARNESS_WORD_BYTES  bytes of a MEM word (`mem_port_bits / 8`)
//   HARNESS_MEM_BYTES   bytes of MEM (`sram_banks * sram_bank_bytes`)
//
// Timing follows the cocotb environment (tb/core/env.py): inputs change while the clock
// is low (the environment's falling edge), a cycle is one rising edge, outputs are
// sampled after it. Reset holds the core's `rst` for three cycles. The NoC ports are idle,
// as in the environment: no input flit (`i.valid` 0), every output flit taken
// (`o.ready` 1).
//
// Host port (docs/architecture.md 7.5, rtl/core/memory.py): a write takes one cycle a
// word; a read's data arrives on `host__rdata` HARNESS_MEM_LATENCY (1 or 2) cycles after
// its request, so a read of n words takes n + HARNESS_MEM_LATENCY - 1 cycles (each word's
// request in the cycle after the previous one's).
// MEM is reached only while the core is not busy.
//
// A run (harness_run) is CoreEnv.run: `start` with `entry` for one cycle, one more cycle,
// then one cycle at a time until `busy` is low, then one more cycle; the cycle count is
// the core's own `cycles` counter, so it equals the cocotb path's and the cycle model's.
//
// Port names: Verilator spells each `__` of a Verilog name as `___05F`, so the port
// `host__en` is the member `host___05Fen`.
//
// Not thread-safe: one thread at a time per core. Assumes a little-endian host.

#include <cstdint>
#include <cstring>
#include <memory>

#include "Vcore.h"
#include "Vcore___024root.h"  // the clock edge detector's state (tick())
#include "verilated.h"

#ifndef HARNESS_WORD_BYTES
#error "HARNESS_WORD_BYTES must be defined (bytes of a MEM word)"
#endif
#ifndef HARNESS_MEM_BYTES
#error "HARNESS_MEM_BYTES must be defined (bytes of MEM)"
#endif
#ifndef HARNESS_MEM_LATENCY
#error "HARNESS_MEM_LATENCY must be defined (cycles from a MEM read to its data)"
#endif

#define HARNESS_API extern "C" __attribute__((visibility("default")))

namespace {

constexpr uint64_t kWord = HARNESS_WORD_BYTES;
constexpr uint64_t kMem  = HARNESS_MEM_BYTES;
constexpr int kLatency   = HARNESS_MEM_LATENCY;
static_assert(kLatency == 1 || kLatency == 2, "MEM read latency is 1 or 2 cycles");
constexpr int kResetCycles = 3;
static_assert(kWord >= 8 && kWord <= 64, "the host port's mask must fit 64 bits");

// Status codes of harness_run; errors (negative) of every call.
enum : int {
    kDone        = 0,
    kTimeout     = 1,
    kDeadlock    = 2,
    kErrBusy     = -1,   // MEM access or start while the core is busy
    kErrAlign    = -2,   // address or length not whole words
    kErrRange    = -3,   // outside MEM
    kErrArgument = -4,   // null pointer or zero max_cycles
};

// Flag bits of harness_flags.
enum : uint32_t {
    kFlagConflict = 1u << 0,
    kFlagDeadlock = 1u << 1,
    kFlagOverflow = 1u << 2,
    kFlagBusy     = 1u << 3,
};

// A port of up to 64 bits (CData, SData, IData, QData) from and to little-endian bytes.
template <typename T>
void put_bytes(T& port, const uint8_t* src) {
    static_assert(sizeof(T) >= kWord, "port narrower than a MEM word");
    uint64_t value = 0;
    std::memcpy(&value, src, kWord);
    port = static_cast<T>(value);
}

template <typename T>
void get_bytes(const T& port, uint8_t* dst) {
    static_assert(sizeof(T) >= kWord, "port narrower than a MEM word");
    uint64_t value = port;
    std::memcpy(dst, &value, kWord);
}

// A wide port (more than 64 bits): VlWide's 32-bit words, least significant first.
template <std::size_t N>
void put_bytes(VlWide<N>& port, const uint8_t* src) {
    static_assert(4 * N >= kWord, "port narrower than a MEM word");
    for (std::size_t i = 0; i < N; ++i) {
        EData w = 0;
        if (4 * i < kWord) std::memcpy(&w, src + 4 * i, 4);
        port[i] = w;
    }
}

template <std::size_t N>
void get_bytes(const VlWide<N>& port, uint8_t* dst) {
    for (std::size_t i = 0; 4 * i < kWord; ++i) {
        EData w = port[i];
        std::memcpy(dst + 4 * i, &w, 4);
    }
}

bool words_inside(uint64_t addr, uint64_t n) {
    return addr <= kMem && n <= kMem - addr;
}

}  // namespace

struct HarnessCore {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vcore> top;
    uint64_t clocks = 0;  // rising edges since creation

    HarnessCore() : context(new VerilatedContext), top(new Vcore(context.get(), "core")) {}

    // One cycle: the rising edge, then the falling edge (inputs change after it).
    //
    // The falling edge is not evaluated: no logic is sensitive to it, and the evaluation
    // after the rising edge leaves every signal settled. Verilator re-evaluates all the
    // logic fed by the inputs at every eval(), so a second eval() a cycle would cost time
    // for nothing; instead the model's record of the clock's last
    // value (what its edge detection compares with at the next eval) is set to 0, as the
    // falling edge's eval() would set it. Inputs changed after tick() are evaluated at
    // the next rising edge, before it, as a real falling edge's would be.
    inline void tick() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->rootp->__Vtrigprevexpr___TOP__clk__0 = 0;
        ++clocks;
    }

    void idle_inputs() {
        top->host___05Fen = 0;
        top->host___05Fwe = 0;
        top->start = 0;
    }

    // The core's rst is the top's, registered: it rises one cycle after the top's and
    // falls one cycle after it, so holding the top's for kResetCycles cycles and one more
    // cycle without resets the core for kResetCycles cycles, as the cocotb environment
    // does.
    void reset() {
        idle_inputs();
        top->rst = 1;
        for (int i = 0; i < kResetCycles; ++i) tick();
        top->rst = 0;
        tick();
    }
};

HARNESS_API HarnessCore* harness_create(void) {
    HarnessCore* core;
    try {
        core = new HarnessCore;
    } catch (...) {  // no C++ exception may cross the C interface
        return nullptr;
    }
    core->top->clk = 0;
    core->idle_inputs();
    core->top->eval();
    core->reset();
    return core;
}

HARNESS_API void harness_destroy(HarnessCore* core) {
    if (!core) return;
    core->top->final();
    delete core;
}

HARNESS_API uint32_t harness_word_bytes(void) { return kWord; }

HARNESS_API uint64_t harness_mem_bytes(void) { return kMem; }

HARNESS_API void harness_reset(HarnessCore* core) { core->reset(); }

// Write n bytes (whole words, addr word-aligned) to MEM at addr; 0 or an error.
HARNESS_API int harness_write(HarnessCore* core, uint64_t addr, const uint8_t* data,
                              uint64_t n) {
    if (!data && n) return kErrArgument;
    if (addr % kWord || n % kWord) return kErrAlign;
    if (!words_inside(addr, n)) return kErrRange;
    if (core->top->busy) return kErrBusy;
    Vcore* top = core->top.get();
    top->host___05Fwe = 1;
    top->host___05Fmask = kWord == 64 ? ~0ull : (1ull << kWord) - 1;
    top->host___05Fen = 1;
    for (uint64_t k = 0; k < n; k += kWord) {
        top->host___05Faddr = static_cast<uint32_t>(addr + k);
        put_bytes(top->host___05Fwdata, data + k);
        core->tick();
    }
    top->host___05Fen = 0;
    top->host___05Fwe = 0;
    return 0;
}

// Read n bytes (whole words, addr word-aligned) of MEM at addr into buf; 0 or an error.
HARNESS_API int harness_read(HarnessCore* core, uint64_t addr, uint8_t* buf, uint64_t n) {
    if (!buf && n) return kErrArgument;
    if (addr % kWord || n % kWord) return kErrAlign;
    if (!words_inside(addr, n)) return kErrRange;
    if (core->top->busy) return kErrBusy;
    Vcore* top = core->top.get();
    top->host___05Fwe = 0;
    top->host___05Fen = 1;
    // Word k's request is made in cycle k; its data is read after edge k + kLatency - 1
    // (registered at that edge; the requests set after it cannot change it).
    constexpr uint64_t kLag = (kLatency - 1) * kWord;   // bytes requested ahead of the data
    for (uint64_t k = 0; k < n + kLag; k += kWord) {
        if (k < n) {
            top->host___05Faddr = static_cast<uint32_t>(addr + k);
        } else {
            top->host___05Fen = 0;
        }
        core->tick();
        if (k >= kLag) get_bytes(top->host___05Frdata, buf + k - kLag);
    }
    top->host___05Fen = 0;
    return 0;
}

// Start the core at entry and clock it until busy falls (kDone), deadlock rises
// (kDeadlock; the core stays busy until reset) or max_cycles cycles have passed
// (kTimeout); *out_cycles is the core's cycle counter then. Negative: an error.
HARNESS_API int harness_run(HarnessCore* core, uint64_t entry, uint64_t max_cycles,
                            uint32_t* out_cycles) {
    if (!out_cycles || max_cycles == 0) return kErrArgument;
    if (entry % kWord) return kErrAlign;
    if (entry >= kMem) return kErrRange;
    Vcore* top = core->top.get();
    if (top->busy) return kErrBusy;
    top->entry = static_cast<uint32_t>(entry);
    top->start = 1;
    core->tick();
    top->start = 0;
    core->tick();
    int status = kTimeout;
    for (uint64_t i = 0; i < max_cycles; ++i) {
        if (!top->busy) {
            status = kDone;
            break;
        }
        if (top->deadlock) {
            status = kDeadlock;
            break;
        }
        core->tick();
    }
    if (status == kDone) core->tick();
    *out_cycles = top->cycles;
    return status;
}

// The sticky flags (conflict, deadlock, overflow) and busy, as bits 0..3.
HARNESS_API uint32_t harness_flags(HarnessCore* core) {
    const Vcore* top = core->top.get();
    return (top->conflict ? kFlagConflict : 0) | (top->deadlock ? kFlagDeadlock : 0) |
           (top->overflow ? kFlagOverflow : 0) | (top->busy ? kFlagBusy : 0);
}

// The core's counters of the last run: its cycles and its VMM steps.
HARNESS_API uint32_t harness_cycles(HarnessCore* core) { return core->top->cycles; }

HARNESS_API uint32_t harness_vmm_steps(HarnessCore* core) { return core->top->vmm_steps; }

// Rising edges since creation (every write, read, reset, run and free run counts).
HARNESS_API uint64_t harness_clocks(HarnessCore* core) { return core->clocks; }

// Toggle the clock n cycles with every input idle; kErrBusy if the core is busy.
HARNESS_API int harness_free_run(HarnessCore* core, uint64_t n) {
    if (core->top->busy) return kErrBusy;
    for (uint64_t i = 0; i < n; ++i) core->tick();
    return 0;
}

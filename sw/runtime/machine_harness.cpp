// A C++ harness around the Verilated machine (rtl/top/machine.py: the host link, the
// framebuffer and the array of cores behind one byte stream), for ctypes: the clock runs
// here, so a request frame and its answer cost Python one call, not one per edge.
//
// Built by sw/runtime/machine.py around the top it generates (`harness_machine_<config>`:
// the machine with its `rst` registered), with the model's class named `Vmachine`
// (Verilator's `--prefix Vmachine`).
//
// Timing follows tb/core/env.py and harness.cpp: inputs change while the clock is low, a
// cycle is one rising edge, outputs are sampled before it (the values the edge sees).
// Reset holds the machine's `rst` for kResetCycles cycles. `tx` is always ready.
//
// A transfer (machine_transfer) offers the input bytes on `rx`, one a cycle, the next
// once `rx.ready` took the previous, and collects every byte `tx` sends, until the
// collected bytes end with a 0x00 delimiter after at least one non-zero byte (a whole
// answer frame) and every input byte was taken.
//
// Port names: Verilator spells each `__` of a Verilog name as `___05F`, so the port
// `rx__valid` is the member `rx___05Fvalid`.
//
// Not thread-safe: one thread at a time per machine.

#include <cstdint>
#include <memory>

#include "Vmachine.h"
#include "Vmachine___024root.h"  // the clock edge detector's state (tick())
#include "verilated.h"

#define HARNESS_API extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kResetCycles = 3;

// Errors (negative) of machine_transfer and machine_idle.
enum : int64_t {
    kErrTimeout  = -1,   // max_cycles passed before the answer frame was complete
    kErrOverflow = -2,   // the answer bytes overflowed out_buf
    kErrArgument = -3,   // a null pointer with a non-zero length, or zero max_cycles
};

}  // namespace

struct HarnessMachine {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vmachine> top;
    uint64_t clocks = 0;       // rising edges since creation
    uint64_t last_taken = 0;   // input bytes the last transfer's rx took
    uint64_t last_out = 0;     // bytes the last transfer collected from tx

    HarnessMachine()
        : context(new VerilatedContext), top(new Vmachine(context.get(), "machine")) {}

    // Make this machine's context the calling thread's (Verilated::threadContextp), as
    // every entry point does before it touches the model: Verilator's runtime finds some
    // of a model's state through the thread's context, not the model's (the scopes a
    // model registers and erases, the models it creates inside: a hierarchical build's
    // cores); the thread's context is the last one constructed (or set), which with
    // several machines in one process may be another's, or one deleted.
    void use() { Verilated::threadContextp(context.get()); }

    // One cycle: the rising edge, then the falling edge, which is not evaluated (no logic
    // is sensitive to it; harness.cpp's tick() explains): the model's record of the
    // clock's last value is set to 0, as the falling edge's eval() would set it.
    //
    // Built with HARNESS_HIER_BLOCKS (the cores Verilated as hierarchical blocks,
    // sw/runtime/machine.py), the falling edge is evaluated: each core is then a model of
    // its own behind a wrapper that hands it every change of clk (`always @(clk)`); the
    // core keeps its own record of clk's last value, which only an eval with clk low
    // clears. Skipped, the core sees clk stay high and never again sees a rising edge.
    inline void tick() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
#ifdef HARNESS_HIER_BLOCKS
        top->eval();
#else
        top->rootp->__Vtrigprevexpr___TOP__clk__0 = 0;
#endif
        ++clocks;
    }

    void idle_inputs() {
        top->rx___05Fvalid = 0;
        top->rx___05Fpayload = 0;
        top->tx___05Fready = 1;
    }

    // The machine's rst is the top's, registered (one cycle later): holding the top's for
    // kResetCycles cycles and one more cycle without resets it for kResetCycles cycles.
    void reset() {
        idle_inputs();
        top->rst = 1;
        for (int i = 0; i < kResetCycles; ++i) tick();
        top->rst = 0;
        tick();
        top->eval();   // settle the outputs on the idle inputs (no clock edge)
    }
};

HARNESS_API HarnessMachine* machine_create(void) {
    HarnessMachine* m;
    try {
        m = new HarnessMachine;
    } catch (...) {  // no C++ exception may cross the C interface
        return nullptr;
    }
    m->use();
    m->top->clk = 0;
    m->idle_inputs();
    m->top->eval();
    m->reset();
    return m;
}

HARNESS_API void machine_destroy(HarnessMachine* m) {
    if (!m) return;
    m->use();
    m->top->final();
    delete m;
    Verilated::threadContextp(nullptr);   // not left pointing at the deleted context
}

HARNESS_API void machine_reset(HarnessMachine* m) {
    m->use();
    m->reset();
}

// Offer in[0..n_in) on rx and collect tx into out[0..max_out) until the collected bytes
// end with 0x00 after a non-zero byte and every input byte was taken; return the number
// of bytes collected, or a negative error (kErrTimeout after max_cycles cycles,
// kErrOverflow when an answer byte finds out full: the clock stops there).
//
// Each cycle: the inputs for the coming edge are set (and, when they changed, evaluated
// with the clock low, so that `rx.ready` and `tx.valid` are those the edge sees even
// were they combinational in `rx`); a byte moves on rx when valid and ready, on tx when
// valid (tx is always ready); then the rising edge.
HARNESS_API int64_t machine_transfer(HarnessMachine* m, const uint8_t* in, uint64_t n_in,
                                     uint8_t* out, uint64_t max_out, uint64_t max_cycles) {
    if ((!in && n_in) || (!out && max_out) || max_cycles == 0) return kErrArgument;
    m->use();
    Vmachine* top = m->top.get();
    uint64_t taken = 0, n_out = 0;
    bool nonzero = false;   // the last byte collected is not zero
    bool ended = false;     // the bytes collected end with a delimiter after a frame
    bool valid = false;     // rx's valid as set for the last edge
    uint8_t payload = 0;
    m->last_taken = m->last_out = 0;
    top->tx___05Fready = 1;
    int64_t status = kErrTimeout;
    for (uint64_t c = 0; c < max_cycles; ++c) {
        bool offer = taken < n_in;
        uint8_t byte = offer ? in[taken] : 0;
        if (offer != valid || (offer && byte != payload)) {
            top->rx___05Fvalid = offer;
            top->rx___05Fpayload = byte;
            valid = offer;
            payload = byte;
            top->eval();   // clock low: no edge, only the logic fed by the inputs
        }
        bool rx_moves = offer && top->rx___05Fready;
        bool tx_moves = top->tx___05Fvalid;
        uint8_t tx_byte = top->tx___05Fpayload;
        if (tx_moves && n_out == max_out) {
            status = kErrOverflow;
            break;
        }
        m->tick();
        if (rx_moves) ++taken;
        if (tx_moves) {
            out[n_out++] = tx_byte;
            ended = !tx_byte && (nonzero || ended);
            nonzero = tx_byte != 0;
        }
        if (ended && taken == n_in) {
            status = static_cast<int64_t>(n_out);
            break;
        }
    }
    // Leave rx idle (and the outputs settled on it) for whatever comes next.
    top->rx___05Fvalid = 0;
    top->rx___05Fpayload = 0;
    top->eval();
    m->last_taken = taken;
    m->last_out = n_out;
    return status;
}

// Clock n cycles with rx idle and tx ready, dropping any tx byte; return the number of
// tx bytes dropped (none unless an answer was in flight).
HARNESS_API int64_t machine_idle(HarnessMachine* m, uint64_t n) {
    m->use();
    Vmachine* top = m->top.get();
    m->idle_inputs();
    top->eval();
    int64_t dropped = 0;
    for (uint64_t i = 0; i < n; ++i) {
        if (top->tx___05Fvalid) ++dropped;
        m->tick();
    }
    return dropped;
}

// Rising edges since creation (every reset, transfer and idle cycle counts).
HARNESS_API uint64_t machine_clocks(HarnessMachine* m) { return m->clocks; }

// The machine's outputs now: busy (a run in progress) and error (the last run's code).
HARNESS_API uint32_t machine_busy(HarnessMachine* m) { return m->top->busy; }

HARNESS_API uint32_t machine_error(HarnessMachine* m) { return m->top->error; }

// Of the last transfer (also one that failed): the input bytes rx took and the bytes
// collected from tx (at most max_out; out holds them).
HARNESS_API uint64_t machine_last_taken(HarnessMachine* m) { return m->last_taken; }

HARNESS_API uint64_t machine_last_out(HarnessMachine* m) { return m->last_out; }

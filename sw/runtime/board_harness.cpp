// A C++ harness around the Verilated board (fpga/board.py's HostBoard: the machine
// behind its UART, as built into the bitstream), for ctypes: the clock runs here, and so
// does the far end of the serial line, a UART model that sends request bytes on `rx` bit
// by bit and receives the answer bytes from `tx`, at the line's rate.
//
// Built by sw/runtime/board.py around the top it generates (`harness_board_<config>`: the
// board with its `rst` registered), the model's class named `Vboard`.
//
// Timing follows machine_harness.cpp: inputs change while the clock is low, a cycle is one
// rising edge; `tx` and `out` are registered and read after the edge.
//
// The line model: a bit lasts num / den clocks (set apart for sending and receiving, so
// that the host's rate may differ from the board's). Sending, a phase accumulator adds den
// each clock and a bit ends when it passes num; a frame is a start bit (0), 8 data bits
// least significant first and a stop bit (1); between two frames the line idles for a
// pseudo-random 0 to max_gap clocks (0: frames back to back). Receiving, a fall of `tx`
// seen after an edge starts a frame, and bit i is sampled at the first clock at or after
// (i + 1/2) bit times from it; a stop bit of 0 is a framing error (counted, the byte
// kept), a start bit high again at its sample a glitch (counted, no byte).
//
// Not thread-safe: one thread at a time per board.

#include <cstdint>
#include <memory>

#include "Vboard.h"
#include "Vboard___024root.h"  // the clock edge detector's state (tick())
#include "verilated.h"

#define HARNESS_API extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kResetCycles = 3;

enum : int64_t {
    kErrTimeout  = -1,   // max_cycles passed before the answer frame was complete
    kErrOverflow = -2,   // the answer bytes overflowed out_buf
    kErrArgument = -3,   // a null pointer with a non-zero length, a zero rate or max_cycles
};

// The sending half of the host's UART: drives the board's rx.
struct Sender {
    uint64_t num = 16, den = 1;   // clocks a bit: num / den
    uint64_t max_gap = 0;         // most idle clocks between two frames
    uint64_t lfsr = 1;            // the gaps' generator
    uint64_t acc = 0;             // phase: a bit ends when acc passes num
    int bit = -1;                 // bit of the frame on the line (0 start .. 9 stop), -1 none
    uint16_t frame = 0;           // the frame's bits, start bit first
    uint64_t gap = 0;             // idle clocks left before the next frame may start

    uint64_t next_random() {      // xorshift64
        lfsr ^= lfsr << 13;
        lfsr ^= lfsr >> 7;
        lfsr ^= lfsr << 17;
        return lfsr;
    }
    void idle() { bit = -1; acc = 0; gap = 0; }
    bool busy() const { return bit >= 0; }
    // Start sending a byte now (the line must be idle and the gap spent).
    void start(uint8_t byte) {
        frame = static_cast<uint16_t>((1u << 9) | (static_cast<uint16_t>(byte) << 1));
        bit = 0;
        acc = 0;
    }
    // The line's level for the coming edge.
    uint8_t level() const { return bit < 0 ? 1 : (frame >> bit) & 1; }
    // After the edge: advance the bit timer; returns true when the frame ended.
    bool advance() {
        if (bit < 0) {
            if (gap) --gap;
            return false;
        }
        acc += den;
        if (acc < num) return false;
        acc -= num;
        if (++bit < 10) return false;
        bit = -1;
        gap = max_gap ? next_random() % (max_gap + 1) : 0;
        return true;
    }
};

// The receiving half of the host's UART: watches the board's tx.
struct Receiver {
    uint64_t num = 16, den = 1;
    bool active = false;
    uint64_t t = 0;       // clocks since the fall was seen
    int bit = 0;          // next bit to sample
    uint16_t bits = 0;
    uint8_t last = 1;     // the line after the previous edge
    uint64_t framing = 0, glitches = 0;

    void idle() { active = false; last = 1; }
    // Watch the line after an edge; returns a received byte (0..255) or -1.
    int watch(uint8_t line) {
        int got = -1;
        if (!active) {
            if (last && !line) { active = true; t = 0; bit = 0; bits = 0; }
        } else {
            ++t;
            // sample bit i at the first t with t >= (i + 1/2) * num / den
            if (2 * t * den >= static_cast<uint64_t>(2 * bit + 1) * num) {
                bits |= static_cast<uint16_t>(line & 1) << bit;
                if (bit == 0 && line) {        // the start bit is gone: a glitch
                    ++glitches;
                    active = false;
                } else if (++bit == 10) {
                    if (!(bits >> 9)) ++framing;
                    got = (bits >> 1) & 0xFF;
                    active = false;
                }
            }
        }
        last = line;
        return got;
    }
};

}  // namespace

struct HarnessBoard {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vboard> top;
    Sender send;
    Receiver recv;
    uint64_t clocks = 0;
    uint64_t last_taken = 0, last_out = 0;

    HarnessBoard() : context(new VerilatedContext), top(new Vboard(context.get(), "board")) {}

    inline void tick() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->rootp->__Vtrigprevexpr___TOP__clk__0 = 0;
        ++clocks;
    }

    // One cycle with the line at `level` (or the sender's, when level < 0); returns the
    // byte the receiver completed, or -1.
    inline int cycle(int level) {
        uint8_t rx = level < 0 ? send.level() : static_cast<uint8_t>(level);
        if (top->rx != rx) {
            top->rx = rx;
            top->eval();
        }
        tick();
        return recv.watch(top->tx);
    }

    void reset() {
        send.idle();
        recv.idle();
        top->rx = 1;
        top->rst = 1;
        for (int i = 0; i < kResetCycles; ++i) tick();
        top->rst = 0;
        tick();
        top->eval();
    }
};

HARNESS_API HarnessBoard* board_create(void) {
    HarnessBoard* b;
    try {
        b = new HarnessBoard;
    } catch (...) {
        return nullptr;
    }
    b->top->clk = 0;
    b->top->rx = 1;
    b->top->eval();
    b->reset();
    return b;
}

HARNESS_API void board_destroy(HarnessBoard* b) {
    if (!b) return;
    b->top->final();
    delete b;
}

HARNESS_API void board_reset(HarnessBoard* b) { b->reset(); }

// The line's timing: the host sends bits of send_num / send_den clocks and samples the
// board's at recv_num / recv_den; between frames it idles 0 to max_gap clocks, drawn
// from seed (not 0). Returns 0, or kErrArgument.
HARNESS_API int64_t board_line(HarnessBoard* b, uint64_t send_num, uint64_t send_den,
                               uint64_t recv_num, uint64_t recv_den, uint64_t max_gap,
                               uint64_t seed) {
    if (!send_num || !send_den || !recv_num || !recv_den || !seed) return kErrArgument;
    b->send.num = send_num;
    b->send.den = send_den;
    b->recv.num = recv_num;
    b->recv.den = recv_den;
    b->send.max_gap = max_gap;
    b->send.lfsr = seed;
    return 0;
}

// Send in[0..n_in) on rx and collect the bytes received from tx into out[0..max_out)
// until they end with 0x00 after a non-zero byte and every input byte's stop bit has
// ended; return the number collected, or a negative error.
HARNESS_API int64_t board_transfer(HarnessBoard* b, const uint8_t* in, uint64_t n_in,
                                   uint8_t* out, uint64_t max_out, uint64_t max_cycles) {
    if ((!in && n_in) || (!out && max_out) || max_cycles == 0) return kErrArgument;
    uint64_t sent = 0, started = 0, n_out = 0;
    bool nonzero = false, ended = false;
    b->last_taken = b->last_out = 0;
    int64_t status = kErrTimeout;
    for (uint64_t c = 0; c < max_cycles; ++c) {
        if (!b->send.busy() && !b->send.gap && started < n_in) b->send.start(in[started++]);
        int got = b->cycle(-1);
        if (b->send.advance()) ++sent;
        if (got >= 0) {
            if (n_out == max_out) {
                status = kErrOverflow;
                break;
            }
            uint8_t byte = static_cast<uint8_t>(got);
            out[n_out++] = byte;
            ended = !byte && (nonzero || ended);
            nonzero = byte != 0;
        }
        if (ended && sent == n_in) {
            status = static_cast<int64_t>(n_out);
            break;
        }
    }
    if (b->send.busy()) b->send.idle();   // a timeout cuts the frame on the line short
    b->last_taken = sent;
    b->last_out = n_out;
    return status;
}

// Clock n cycles with the line held at level (1: idle; 0: a break), receiving; return the
// number of bytes received meanwhile (dropped).
HARNESS_API int64_t board_hold(HarnessBoard* b, uint64_t n, uint32_t level) {
    b->send.idle();
    int64_t dropped = 0;
    for (uint64_t i = 0; i < n; ++i)
        if (b->cycle(level ? 1 : 0) >= 0) ++dropped;
    return dropped;
}

HARNESS_API uint64_t board_clocks(HarnessBoard* b) { return b->clocks; }

HARNESS_API uint32_t board_leds(HarnessBoard* b) { return b->top->out; }

// The receiver's counts since creation: stop bits of 0, start bits gone at their sample.
HARNESS_API uint64_t board_framing(HarnessBoard* b) { return b->recv.framing; }

HARNESS_API uint64_t board_glitches(HarnessBoard* b) { return b->recv.glitches; }

HARNESS_API uint64_t board_last_taken(HarnessBoard* b) { return b->last_taken; }

HARNESS_API uint64_t board_last_out(HarnessBoard* b) { return b->last_out; }

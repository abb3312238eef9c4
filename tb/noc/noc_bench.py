"""NoC benchmarks from the cycle-exact golden mesh (:mod:`sw.golden.noc`), run by
``make bench`` through :func:`tb.bench.bench_noc`.

The golden mesh accepts and delivers every flit in the RTL's cycle (``tb/noc`` checks this
cycle for cycle on random traffic with and without stalls, on 11 shapes through the C++
harness), so its figures are the RTL's.

- ``noc.mesh<R>x<C>.saturation_flits_per_node_cycle``: uniform random traffic of one-flit
  packets, every node offering a flit every cycle (an unbounded source queue, every
  ejection port always ready); the flits delivered per node per cycle after a warm-up.
- ``noc.zero_load_latency_error``: the largest difference, over every (source,
  destination) pair of the 4 x 4 and 8 x 8 meshes and unicast packets of 1 to 4 flits,
  between the measured latency (the cycle the head is offered at the destination minus
  the cycle it was accepted) and ``1 + hops``; 0 when the formula holds.
- ``build/bench/noc_load.png``: accepted versus offered load (Bernoulli injection of
  one-flit packets) and the mean latency, for the 4 x 4 and 8 x 8 meshes.
"""

import random
from collections import deque

from sw.golden.noc import Flit, MeshModel, zero_load_latency

__all__ = ["offered_vs_accepted", "zero_load_error", "run_bench"]


def offered_vs_accepted(rows, cols, offered, *, warmup=500, cycles=2000, seed=1):
    """Uniform random one-flit packets, each node generating one a cycle with chance
    ``offered`` into an unbounded queue; return ``(accepted, latency)``: flits delivered
    per node per cycle over ``cycles`` after ``warmup``, and their mean latency from
    acceptance into the mesh to delivery."""
    rng = random.Random(seed)
    nodes = rows * cols
    model = MeshModel(rows, cols)
    queues = [deque() for _ in range(nodes)]
    ready = [True] * nodes
    accepted_at = {}
    delivered = latency = 0
    for cycle in range(warmup + cycles):
        for n in range(nodes):
            if offered >= 1 or rng.random() < offered:
                d = rng.randrange(nodes)
                queues[n].append(Flit(cycle * nodes + n, d % cols, d % cols, d // cols,
                                      d // cols, 1))
        offers = {n: q[0] for n, q in enumerate(queues) if q}
        accepted, out = model.step(offers, ready)
        for n in accepted:
            accepted_at[queues[n].popleft().payload] = cycle
        for flit in out.values():
            start = accepted_at.pop(flit.payload)
            if cycle >= warmup:
                delivered += 1
                latency += cycle - start
        if offered >= 1:  # saturated: keep the source queues short
            for q in queues:
                while len(q) > 2:
                    q.pop()
    return delivered / (nodes * cycles), latency / max(delivered, 1)


def zero_load_error(rows, cols, seed=1):
    """The largest |measured - (1 + hops)| latency over every pair, one packet at a time."""
    rng = random.Random(seed)
    worst = 0
    nodes = rows * cols
    for s in range(nodes):
        for d in range(nodes):
            model = MeshModel(rows, cols)
            length = rng.randint(1, 4)
            packet = [Flit(k, d % cols, d % cols, d // cols, d // cols, int(k == length - 1))
                      for k in range(length)]
            sent, head_at, start = 0, None, None
            cycle = 0
            while head_at is None:
                offers = {s: packet[sent]} if sent < length else {}
                accepted, out = model.step(offers, [True] * nodes)
                if accepted:
                    start = cycle if sent == 0 else start
                    sent += 1
                if d in out and out[d].payload == 0:
                    head_at = cycle
                cycle += 1
            want = zero_load_latency(s % cols, s // cols, d % cols, d // cols)
            worst = max(worst, abs(head_at - start - want))
    return worst


def run_bench(out_dir, *, loads=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)):
    """Measure the NoC keys and draw the load curve into ``out_dir``; return the keys."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    metrics = {}
    curves = {}
    for rows, cols in ((4, 4), (8, 8)):
        points = [(load, *offered_vs_accepted(rows, cols, load)) for load in loads]
        curves[(rows, cols)] = points
        metrics[f"noc.mesh{rows}x{cols}.saturation_flits_per_node_cycle"] = points[-1][1]
    metrics["noc.zero_load_latency_error"] = max(zero_load_error(4, 4), zero_load_error(8, 8))
    fig, (ax, lat) = plt.subplots(1, 2, figsize=(10, 4))
    for (rows, cols), points in curves.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=f"{rows} x {cols}")
        lat.plot([p[1] for p in points], [p[2] for p in points], "o-", label=f"{rows} x {cols}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="offered load (flits/node/cycle)", ylabel="accepted load (flits/node/cycle)",
           title="uniform random, one-flit packets")
    lat.set(xlabel="accepted load (flits/node/cycle)", ylabel="mean latency (cycles)",
            title="latency from acceptance to delivery")
    ax.legend()
    lat.legend()
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / "noc_load.png", dpi=100)
    plt.close(fig)
    return metrics

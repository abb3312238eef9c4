"""Networks-on-chip: the flit layout, a parameterized XY wormhole router and a mesh of them
(docs/architecture.md, section 9)."""

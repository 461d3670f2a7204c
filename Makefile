# Gannet. `make run` serves the built-in models; `make test` runs the suite.
GO      ?= go
BIN     := bin/gannet
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 10s

.PHONY: all build run test deps test-deps vet fuzz bench bench-go soak models models-large conformance conformance-update bench-engine clean

all: build

deps:
	@scripts/deps.sh run

test-deps:
	@scripts/deps.sh test

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gannet

## run: build and serve the built-in model repository, one local worker per model
run: build
	$(BIN) serve

## test: vet, the whole suite (with the race detector), and each fuzz target briefly
test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

## fuzz: run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=5m for longer).
## A run that fails only with "context deadline exceeded" at the end of FUZZTIME, having written
## no failing input, is Go 1.26's fuzz-coordinator race (golang/go#75804, fixed in Go 1.27), not a
## finding: that target runs once more, and fails for good on anything else.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$t"; \
			for try in 1 2; do \
				if $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1x $$pkg > fuzz.log 2>&1; then break; fi; \
				if [ $$try = 1 ] && grep -q 'context deadline exceeded' fuzz.log && ! grep -q 'Failing input written' fuzz.log; then \
					echo "fuzz $$pkg $$t: coordinator deadline race (golang/go#75804), no failing input; running it again"; continue; fi; \
				cat fuzz.log; exit 1; \
			done; \
		done; \
	done; rm -f fuzz.log

## bench: the SLO figures (max goodput per transport vs the in-process ceiling,
## baselines in interleaved rounds, overload, serving overhead, burst, CPU per request) on this
## machine; about 20 minutes
bench: build
	$(GO) build -o bin/rttfloor ./cmd/rttfloor
	python3 scripts/bench_slo.py

## bench-engine: the CPU engine vs PyTorch eager and jit+freeze, interleaved, medians and ratios
## (needs python3-torch; resnet18 and mobilenet_v2 rows need make models-large)
## Packed AVX-512 products are opt-in (GANNET_PACKED_GEMM=1, bypassing OPENBLAS_CORETYPE): the
## models' outputs are checked against PyTorch's in the same run, then timed.
PACKED ?= 1
bench-engine:
	GANNET_PACKED_GEMM=$(PACKED) $(GO) test -count=1 -run 'TestTorchvisionModels|TestRealModels' ./models/onnx
	GANNET_PACKED_GEMM=$(PACKED) /usr/bin/python3 scripts/bench_engine.py --rounds 5

## bench-go: Go benchmarks of the request path and the models
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## soak: 30 minutes of open-loop load at 70% of capacity, a worker killed every minute (SOAK=30m)
SOAK ?= 30m
soak: test-deps
	GANNET_SOAK=$(SOAK) $(GO) test -count=1 -run '^TestSoak$$' -timeout 2h -v ./cmd/gannet

## models: retrain the built-in models and rewrite the reference outputs (needs python3-torch)
models:
	/usr/bin/python3 scripts/make_models.py

## models-large: torchvision resnet18, mobilenet_v2, squeezenet1_1 (random weights) and their
## reference outputs into testdata/large (not committed; needs python3-torchvision)
models-large:
	/usr/bin/python3 scripts/make_models.py --torchvision

## conformance: the ONNX backend tests of Debian's libonnx-testdata, each in its own process
conformance: test-deps
	$(GO) run ./cmd/onnx-conformance

## conformance-update: rewrite the ratchet (testdata/conformance/baseline.txt) after an improvement
conformance-update: test-deps
	$(GO) run ./cmd/onnx-conformance -update

clean:
	rm -rf bin

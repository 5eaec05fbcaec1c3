# agentrr developer tasks. Run `make` (or `make help`) to list targets.

GO ?= go

# staticcheck lives in a separate module (tools/) so the root module never
# depends on it; -modfile points `go tool` at that module while staticcheck
# itself runs from the repo root and lints the root module's packages.
STATICCHECK ?= $(GO) tool -modfile=tools/go.mod staticcheck

# Go files checked by gofmt: tracked plus untracked-but-not-ignored files when
# in a git work tree, otherwise every .go file. Only expanded when used.
GOFILES = $(wildcard $(shell git ls-files -co --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))

.DEFAULT_GOAL := help

.PHONY: help build test lint demo clean jaeger bench durability fuzz fuzz-smoke browser-deps test-browser

help: ## List targets with a one-line description
	@echo 'Usage: make <target>'
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the agentrr binary into bin/agentrr
	$(GO) build -o bin/agentrr ./cmd/agentrr

# Jaeger v2 is built from its Go module, pinned in a separate module
# (tools/jaeger) so the root module never depends on it. The end-to-end test
# (e2e/) runs it; it fails in CI (CI=true) when bin/jaeger is missing.
# Cold, the build takes several minutes; with a warm build cache, seconds.
jaeger: ## Build Jaeger v2 (for the e2e test and local viewing) into bin/jaeger
	$(GO) -C tools/jaeger build -o $(CURDIR)/bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger

test: ## Run all tests with the race detector
	$(GO) test -race -count=1 ./...

# The browser test of agentrr view (e2e/view_test.go) drives Debian's
# chromium with playwright-core from npm; `make test` skips it without them
# (it fails under CI=true). browser-deps installs both (.ci/run does).
browser-deps: ## Install chromium (Debian) and playwright-core (npm) for the view's browser test
	@[ -x /usr/bin/chromium ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)
	npm ci --prefix e2e/browser --no-audit --no-fund

test-browser: ## Run the view's browser test alone (screenshots kept in AGENTRR_SCREENSHOT_DIR if set)
	CI=true $(GO) test -count=1 -v -run '^TestViewInABrowser$$' ./e2e

# The SIGKILL durability gate at full length (otelrr/durability_test.go;
# `make test` runs it with 50 trials). DURABILITY_TRIALS sets the count,
# AGENTRR_DURABILITY_SEED repeats the kill instants of an earlier run.
DURABILITY_TRIALS ?= 500
durability: ## Kill recording agents with SIGKILL 500 times and check every run
	AGENTRR_DURABILITY_TRIALS=$(DURABILITY_TRIALS) $(GO) test -count=1 -v -timeout 60m -run '^TestDurabilityKill$$' ./otelrr

# Fuzz targets: every decoder and parser of outside bytes, as package:Name.
# `make fuzz` runs each for FUZZTIME, `make fuzz-smoke` (run by .ci/run)
# for FUZZ_SMOKE_TIME. A failing input is saved under the package's
# testdata/fuzz/<Name>/ and from then on runs with every `go test`.
FUZZ_TARGETS = \
	./boundary:FuzzUnmarshal \
	./spanlog:FuzzReadBundle \
	./boundary:FuzzCanonicalizeJSON \
	./boundary:FuzzFastCanonical \
	./analyze:FuzzReadReport \
	./analyze:FuzzDiffJSON \
	./replayer:FuzzLoadOTLPJSON \
	./replayer:FuzzFetchJaeger \
	./internal/cmd/collect:FuzzReceiver \
	./internal/sse:FuzzParseSSE \
	./internal/genai:FuzzGenAIAttributes \
	./internal/httpx:FuzzReplayBody \
	./internal/httpx:FuzzRecordedResponse
FUZZTIME ?= 60s
# A count, not a duration: duration budgets can hit golang/go#75804 (see scripts/fuzz.sh).
FUZZ_SMOKE_TIME ?= 3000x
# Minimizing a new input may otherwise take a minute of the fuzzing time.
FUZZ_MINIMIZE ?= 5s

fuzz: ## Fuzz every decoder for FUZZTIME each (default 60s)
	@$(MAKE) --no-print-directory fuzz-run FUZZ_RUN_TIME=$(FUZZTIME)

fuzz-smoke: ## Fuzz every decoder briefly (FUZZ_SMOKE_TIME each, default 3000 executions)
	@$(MAKE) --no-print-directory fuzz-run FUZZ_RUN_TIME=$(FUZZ_SMOKE_TIME)

.PHONY: fuzz-run
fuzz-run:
	@GO=$(GO) FUZZ_MINIMIZE=$(FUZZ_MINIMIZE) ./scripts/fuzz.sh $(FUZZ_RUN_TIME) $(FUZZ_TARGETS)

lint: ## Check gofmt and go mod tidy, then run go vet and staticcheck
	@echo '--> gofmt -l'
	@unformatted="$(if $(GOFILES),$$(gofmt -l $(GOFILES)))" || exit 1; \
	if [ -n "$$unformatted" ]; then \
		echo 'These files need gofmt -w:'; \
		echo "$$unformatted"; \
		exit 1; \
	fi
	@echo '--> go mod tidy -diff'
	$(GO) mod tidy -diff
	cd bench && $(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff
	@echo '--> go vet'
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@echo '--> staticcheck'
	$(STATICCHECK) ./...
	cd bench && $(GO) tool -modfile=../tools/go.mod staticcheck ./...

# The benchmark harness is its own module (bench/go.mod) so that its peers
# (go-vcr, the Temporal SDK) never enter the root module. It takes a few
# minutes; BENCHFLAGS passes flags, e.g. BENCHFLAGS='-full -markdown'.
bench: build ## Measure recording/replay cost vs the disk and peers (docs/performance.md)
	cd bench && $(GO) run . -repo .. -agentrr ../bin/agentrr $(BENCHFLAGS)

demo: build ## Run the end-to-end demo (scripts/demo.sh)
	./scripts/demo.sh

clean: ## Remove build output (bin/) and local recordings (.agentrr/)
	rm -rf bin/ .agentrr/

# copilot-proxy — common tasks. `make test` is what CI runs.
GO        ?= go
BIN       ?= bin/copilot-proxy
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -s -w -X github.com/copilot-proxy/copilot-proxy/version.stamp=$(VERSION)
# CGO off: the binary is fully static (the SQLite driver is pure Go).
export CGO_ENABLED ?= 0

# Fuzz budgets are execution counts, not durations: a duration races the Go 1.26
# fuzz coordinator's deadline and can fail with "context deadline exceeded"
# and no crasher on a busy machine (golang/go#75804, fixed in Go 1.27).
FUZZTIME      ?= 20000x
# Go minimizes each new interesting input for up to 60 s by default: with the
# 80 KB Claude Code seed that stalled a target for a minute. A count bounds it.
FUZZMINIMIZE  ?= 1000x
FUZZ           = $(GO) test -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -fuzz
SOAK_DURATION ?= 60s

.PHONY: fuzz soak
.PHONY: image-check image release
.PHONY: build run test test-deps test-short lint fmt vet bench bench-bin bench-harness bench-go profile clean openapi-check openapi

build: ## build the static binary into bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/copilot-proxy

run: build ## build and run the gateway (reads the GitHub token as the README says)
	./$(BIN) serve $(ARGS)

test: lint ## vet, format check, and the whole test suite with the race detector
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 8m ./...

test-deps: ## install what the tests start (redis-server, PostgreSQL and chromium when missing) from Debian's packages
	@bash .ci/deps

test-short: ## the suite without the race detector, for a quick loop
	$(GO) test -count=1 ./...

lint: vet ## go vet and a gofmt check
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

bench: build bench-harness bench-go ## the load harness (direct vs bare ReverseProxy vs copilot-proxy) then the Go micro-benchmarks

bench-bin:
	$(GO) build -o bin/copilot-proxy-bench ./cmd/copilot-proxy-bench

bench-harness: build bench-bin ## side-by-side table (HTTP/1.1 and HTTP/2 upstreams, chat/responses/messages, Redis limits, issue 17 targets) and bench-results/latest.json (about 4 minutes on 2 cores; BENCH_ARGS='-rounds 5 -round 2s' for longer)
	./bin/copilot-proxy-bench -bin $(BIN) -out bench-results/latest.json $(BENCH_ARGS)

bench-go: ## Go micro-benchmarks of the hot paths, with allocation counts
	$(GO) test -run '^$$' -bench . -benchmem ./...

profile: build bench-bin ## pprof CPU, heap and allocs profiles of copilot-proxy under load (HTTP/2 upstream; PROFILE_ARGS='-protocols h1' for HTTP/1.1), into bench-results/profile/
	./bin/copilot-proxy-bench -bin $(BIN) -profile bench-results/profile -round 10s $(PROFILE_ARGS)

release: ## static binaries for linux/amd64, linux/arm64, darwin/amd64, darwin/arm64, windows/amd64 as archives in dist/ with SHA256SUMS, version from git describe (RELEASE_TARGETS=linux/amd64 for fewer)
	$(GO) run ./cmd/copilot-proxy-release -version $(VERSION) -out dist

image-check: ## lint the Dockerfile and .dockerignore (pinned bases, non-root user, no secrets, HEALTHCHECK, VOLUME) without a container runtime; also part of make test
	$(GO) test -count=1 -run '^(TestDockerfile|TestDockerfileLint|TestDockerignore|TestComposeUsesImage)$$' ./cmd/copilot-proxy

image: image-check ## build the container image copilot-proxy:VERSION (needs Docker)
	docker build --build-arg VERSION=$(VERSION) -t copilot-proxy:$(VERSION) .

openapi-check: ## validate openapi/openapi.yaml (and that openapi.json is generated from it)
	$(GO) test -count=1 -run 'TestSpecValid|TestErrorCodesComplete' ./openapi

openapi: ## regenerate openapi/openapi.json after editing openapi/openapi.yaml
	$(GO) generate ./openapi

fuzz: ## run each fuzz target for FUZZTIME executions (default 20000x); CI runs it after test
	$(FUZZ) '^FuzzParseChatRequest$$' ./api
	$(FUZZ) '^FuzzUsage$$' ./api
	$(FUZZ) '^FuzzWalk$$' ./api
	$(FUZZ) '^FuzzRelay$$' ./gateway
	$(FUZZ) '^FuzzAuthHeader$$' ./middleware
	$(FUZZ) '^FuzzParse$$' ./bytesize
	$(FUZZ) '^FuzzParseRequest$$' ./api/responses
	$(FUZZ) '^FuzzStreamFromChat$$' ./api/responses
	$(FUZZ) '^FuzzStreamToChat$$' ./api/responses
	$(FUZZ) '^FuzzParseRequest$$' ./api/anthropic
	$(FUZZ) '^FuzzStreamFromChat$$' ./api/anthropic

soak: build ## 60 s of mixed load with short token lifetimes and random faults (not in CI)
	$(GO) run ./cmd/copilot-proxy-soak -bin $(BIN) -duration $(SOAK_DURATION)

clean:
	rm -rf bin dist

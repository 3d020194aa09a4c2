# copilot-proxy — common tasks. `make test` is what CI runs.
GO        ?= go
BIN       ?= bin/copilot-proxy
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# CGO off: the binary is fully static (the SQLite driver is pure Go).
export CGO_ENABLED ?= 0

.PHONY: build run test test-short lint fmt vet bench clean

build: ## build the static binary into bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/copilot-proxy

run: build ## build and run the gateway (reads the GitHub token as the README says)
	./$(BIN) serve $(ARGS)

test: lint ## vet, format check, and the whole test suite with the race detector
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 8m ./...

test-short: ## the suite without the race detector, for a quick loop
	$(GO) test -count=1 ./...

lint: vet ## go vet and a gofmt check
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

bench: ## Go micro-benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin

# sluice: `make` lists the targets. Variables let one target serve many uses:
#   make test PKG=./tables TESTS=TestConformance
#   make bench BENCH=StorageUpdate COUNT=5
#   make bench BENCH=ProcessorCount ROUNDS=5 BROKERS=kafka
#   make run VISA=--exactly-once
GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
PKG      ?= ./...
TESTS    ?= .
BENCH    ?= .
COUNT    ?= 1
BENCHTIME ?= 1x
ROUNDS   ?= 5
BROKERS  ?= embedded,kafka
FUZZTIME ?= 30s
FLAT     ?= 10m
TIMEOUT  ?= 14m
DATA_DIR ?= sluice-data
CHAOS    ?=
KAFKA    ?= embedded
VISA     ?=

.PHONY: all help run test test-short cover lint bench bench-deps chaos flat fuzz tidy-check examples clean deps kafka

all help:
	@echo "sluice make targets:"
	@echo "  run         run the visa pipeline on the embedded broker: 500 applications, progress, summary"
	@echo "              (VISA=--exactly-once, or any other flag of 'visa all')"
	@echo "  test        install what tests need (kcat, chromium, Java 17, Maven), then the whole suite twice:"
	@echo "              with -race, then without (what CI runs; real-Kafka tests skip without Java or Maven unless SLUICE_CI=1 or CI is set)"
	@echo "  test-short  go test -short ./... for the edit loop"
	@echo "  cover       coverage profile and summary"
	@echo "  lint        gofmt, go vet, the import-graph and DESIGN.md file-map tests"
	@echo "  bench       benchmarks into bench-<date>.txt for benchstat (BENCH, COUNT, BENCHTIME; end-to-end ones:"
	@echo "              ROUNDS interleaved rounds, medians; BROKERS embedded,kafka with Kafka Streams beside); installs wrk if missing"
	@echo "  chaos       long soak: 200k records through agent kills, broker bounces and rebalances;"
	@echo "              prints the verifier's line (CHAOS=--exactly-once for that mode); KAFKA=real runs"
	@echo "              it on a 3-node Apache Kafka with leader kills, a rolling restart and an outage"
	@echo "  kafka       run Apache Kafka (one KRaft node, jars fetched once with Maven) for --brokers; Ctrl-C stops it"
	@echo "  flat        the visa pipeline with its live page for FLAT (10m) of broker bounces: goroutines"
	@echo "              and open files must stay flat (a short run is in make test)"
	@echo "  fuzz        each Fuzz target for FUZZTIME"
	@echo "  tidy-check  go mod tidy leaves no diff"
	@echo "  examples    build every example"
	@echo "  clean       remove build output and data dirs"

run:
	$(GO) run ./examples/visa all --data-dir $(DATA_DIR)/visa $(VISA)

# deps installs the system packages tests use: kcat (a librdkafka client, for the
# interoperability test), chromium (headless, for the live page's browser test),
# and Java 17 and Maven (Apache Kafka for the real-Kafka tests; its jars are
# fetched into ~/.cache/sluice/kafka on first use). CI starts on a fresh machine.
deps:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null 2>&1 || [ -n "$$SLUICE_KAFKA_HOME" ] || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# test runs the whole suite twice: with the race detector, then without it, at
# the speed production runs, where records batch and goroutines interleave
# differently (a produce batch refused whole and a deadlock at an exactly-once
# close showed only without it). Tests skipped under -race run in the second:
# those whose subject runs in child processes built without the race detector
# (the soak) or measures a build without it (the benchmarks' short runs), and
# the long-run flatness check (proctest.NonRacePass says which and why).
#
# go test runs packages in the order it is given them, two at a time on 2
# cores: the longest are named first (LONG_TESTS), or topology's five to six
# minutes start when everything else is done and run alone at the end.
LONG_TESTS = ./topology/ ./examples/visa/ ./internal/soak/ ./benchmarks/ ./examples/visa/visa/
TEST_PKGS  = $(if $(filter ./...,$(PKG)),$(LONG_TESTS) ./...,$(PKG))
test: deps
	$(GO) test -race -timeout $(TIMEOUT) -run '$(TESTS)' $(TEST_PKGS)
	$(GO) test -timeout $(TIMEOUT) -run '$(TESTS)' $(TEST_PKGS)

test-short:
	$(GO) test -short -run '$(TESTS)' $(PKG)

cover:
	$(GO) test -short -coverprofile=cover.out $(PKG)
	$(GO) tool cover -func=cover.out | tail -1

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKG)
	$(GO) test -count=1 ./internal/lint/

# bench-deps installs wrk, the closed-loop HTTP load of BenchmarkFeatureLookup.
bench-deps:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; \
	}

bench: bench-deps
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -count $(COUNT) -timeout 180m ./benchmarks/ -rounds=$(ROUNDS) -brokers=$(BROKERS) | tee bench-$$(date +%Y%m%d-%H%M%S).txt

# chaos KAFKA=real: the same soak on a 3-node Apache Kafka cluster it starts
# (Java 17 and Maven, see make kafka): leader SIGKILLs, a rolling restart of
# the three brokers and a broker down 15 s (longer than the session timeout).
CHAOS_FAULTS_embedded = --kills 5 --broker-bounces 2 --rebalances 4 --duration-cap 10m
CHAOS_FAULTS_real     = --kafka real --kills 5 --broker-bounces 3 --rolling-restarts 1 --outages 2 --rebalances 4 --duration-cap 15m
chaos:
	$(GO) run ./cmd/sluice-soak run --records 200000 --keys 100 $(CHAOS_FAULTS_$(KAFKA)) $(CHAOS)

# kafka runs a single-node Apache Kafka broker in the foreground, its data in
# DATA_DIR/kafka, for trying any sluice binary with --brokers. It needs Java 17
# and, the first time, Maven (or SLUICE_KAFKA_HOME pointing at a Kafka
# distribution); the version is pinned in internal/kafkareal/install.go.
kafka:
	$(GO) run ./internal/kafkareal/cmd/kafka --data-dir $(DATA_DIR)/kafka
flat:
	$(GO) test -run TestLongRunStaysFlat -v -count 1 -timeout 2h ./examples/visa/ -args -flat-duration $(FLAT)

fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

tidy-check:
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

examples:
	$(GO) build -o bin/ ./examples/... ./cmd/...

clean:
	rm -rf bin cover.out $(DATA_DIR) bench-*.txt

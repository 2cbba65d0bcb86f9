# A thin layer over CMake: the README's two commands are `make run` and `make test`.
BUILD_DEPS := cmake make gcc pkg-config libnng-dev libmicrohttpd-dev \
              libcurl4-openssl-dev libsqlite3-dev libcbor-dev libsodium-dev libjansson-dev
TEST_DEPS  := python3 python3-matrix-nio python3-canonicaljson python3-signedjson \
              curl jq sqlite3 iproute2 procps openssl ca-certificates
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE    := build/release
TESTBUILD  := build/test

.PHONY: run test build bench deps test-deps clean

run: deps build
	./$(RELEASE)/mxdbd $(ARGS)

build:
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE) -j $(JOBS)

test: deps test-deps
	cmake -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=Debug -DMXDB_TESTS=ON -DMXDB_SANITIZE=ON
	cmake --build $(TESTBUILD) -j $(JOBS)
	cd $(TESTBUILD) && ctest --output-on-failure -j $(JOBS)

bench: deps build
	@for b in $(RELEASE)/bench_*; do echo "== $$b"; $$b || exit 1; done

# Installs only what is missing; as non-root, prints the exact command instead.
deps:
	@$(call ensure,$(BUILD_DEPS))
test-deps:
	@$(call ensure,$(TEST_DEPS))

define ensure
missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing:$$missing"; \
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
  else \
    echo "missing packages; run as root:  apt-get update && apt-get install -y$$missing"; exit 1; \
  fi; \
fi
endef

clean:
	rm -rf build

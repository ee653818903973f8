# pilotfish — every target is a plain command you can also run by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# spec for the tests, then (test/support/durations-reporter.mjs) the slowest files of the phase.
NODE_TEST := PILOTFISH_DURATIONS_TOP=$${PILOTFISH_DURATIONS_TOP:-15} node --import tsx --test \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./test/support/durations-reporter.mjs --test-reporter-destination=stdout
UNIT_TESTS = $(shell find test/unit -name '*.test.ts' | sort)
INTEGRATION_TESTS = $(shell find test/integration -name '*.test.ts' | sort)
E2E_TESTS = $(shell find test/e2e -name '*.test.ts' | sort)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

deps: node_modules ## install npm dependencies

testenv: ## install the real test bench (apiserver, etcd, Envoy, helm, the node's components) into the cache
	bash scripts/testenv.sh

build: node_modules ## compile TypeScript to dist/
	npx tsc -p tsconfig.build.json

generate: node_modules ## regenerate CRDs (config/crd, the chart's crds/) and JSON Schemas from src/api/schema
	npx tsx scripts/generate-crds.ts

generate-config: node_modules ## regenerate the chart's values.schema.json and config/ from charts/pilotfish (helm template)
	npx tsx scripts/generate-config.ts

lint: node_modules ## eslint, the layer check (.dependency-cruiser.mjs) and the TypeScript type check
	npx eslint .
	npx depcruise src --config .dependency-cruiser.mjs --output-type err-long
	npx tsc -p tsconfig.json --noEmit

unit: node_modules ## fast unit tests (pure code, golden files)
	$(NODE_TEST) $(UNIT_TESTS)

# Integration files run two at a time: each starts its own apiserver, etcd and Envoy on free ports
# and claims its own pod subnet (test/support/pods.ts). These share something with the machine and
# run alone, after the rest: host network namespaces and routes (sidecar-traffic), a latency
# figure (latency), fixed listener ports (run: --port-offset 1; demo: Istio's gateway ports).
INTEGRATION_SERIAL = test/integration/webhook/sidecar-traffic.test.ts test/integration/webhook/latency.test.ts \
  test/integration/cli/run.test.ts test/integration/demo.test.ts
INTEGRATION_CONCURRENCY ?= 2

integration: node_modules ## tests against a real kube-apiserver + etcd and a real Envoy (two files at a time, INTEGRATION_CONCURRENCY)
	$(NODE_TEST) --test-concurrency=$(INTEGRATION_CONCURRENCY) $(filter-out $(INTEGRATION_SERIAL),$(INTEGRATION_TESTS)); parallel=$$?; \
	  $(NODE_TEST) --test-concurrency=1 $(filter $(INTEGRATION_SERIAL),$(INTEGRATION_TESTS)); serial=$$?; \
	  [ $$parallel -eq 0 ] && [ $$serial -eq 0 ]

e2e: node_modules ## tests on the bench's real node (kubelet, containerd, kube-proxy): pods, volumes, webhooks; one node for all files (scripts/e2e.ts)
	node --import tsx scripts/e2e.ts $(E2E_TESTS)

e2e-host: node_modules ## the labs' scenarios (test/e2e/operator-labs.test.ts) with the operator on the host instead of the chart's pod
	PILOTFISH_E2E_OPERATOR=host $(NODE_TEST) test/e2e/operator-labs.test.ts

e2e-kind: node_modules ## the chart's lab scenarios on a kind cluster (Docker, kind, kubectl, helm; Linux): images from images/*/Dockerfile. Not run on the bench
	bash scripts/e2e-kind.sh

images: node_modules ## build the project's images locally into the bench cache (no registry, no Docker)
	npx tsx scripts/images/build.ts

cluster: node_modules ## start the bench's single-node Kubernetes for you to use (prints export KUBECONFIG=...)
	npx tsx scripts/cluster.ts up

cluster-down: ## stop the node that 'make cluster' started and undo its host changes
	npx tsx scripts/cluster.ts down

test: ## install the bench, then run every test (lint, unit, integration), timing each phase
	@bash scripts/timed-phases.sh \
	  deps "$(MAKE) --no-print-directory deps" \
	  testenv "$(MAKE) --no-print-directory testenv" \
	  lint "$(MAKE) --no-print-directory lint" \
	  unit "$(MAKE) --no-print-directory unit" \
	  integration "$(MAKE) --no-print-directory integration" \
	  e2e "$(MAKE) --no-print-directory e2e"

.PHONY: help deps testenv build generate generate-config e2e-host e2e-kind lint unit integration e2e images cluster cluster-down test

demo: node_modules ## pilotfish run on examples/coolstore: local upstreams, local Envoy over ADS, curl lines and a live edit (Ctrl-C stops)
	bash scripts/testenv.sh envoy
	npx tsx scripts/demo.ts

bench: node_modules ## run the benchmarks on purpose (not a test): compile time and memory by size
	npx tsx bench/compile.ts

soak: node_modules ## seeded random apply/mutate/delete against apiserver + operator + Envoy with a steady request loop (SEED=1 OPS=600)
	npx tsx bench/soak.ts --seed $${SEED:-1} --ops $${OPS:-600}

.PHONY: demo bench soak

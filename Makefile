# Rolwijzer. `make run` serves the default rule set; `make test` runs the whole suite. Both install what is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GEN := service/rolwijzer/v1
PROTOS := $(wildcard protos/rolwijzer/v1/*.proto)

.PHONY: run test lint buflint rules-check proto bench attack soak check clean deploy-check deploy-rules measure

# Start the server with the default rules on 127.0.0.1:50051 (or ADDRESS=host:port, or ROLWIJZER_ADDRESS);
# more flags with ARGS, e.g. `make run ARGS="--log-format console"`.
run: $(STAMP) $(GEN)/.generated
	$(BIN)/rolwijzer-server $(if $(ADDRESS),--address $(ADDRESS)) $(ARGS)

# Run the whole test suite.
test: $(STAMP) $(GEN)/.generated
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff and mypy --strict.
lint: $(STAMP) $(GEN)/.generated
	$(BIN)/ruff check service tests bench deploy
	$(BIN)/ruff format --check service tests bench deploy
	$(BIN)/mypy
	$(BIN)/mypy deploy

# buf lint on the protos (STANDARD).
buflint: $(STAMP)
	$(BIN)/buf lint

# Validate the rule folders offline (as the server would load them).
rules-check: $(STAMP) $(GEN)/.generated
	$(BIN)/rolwijzer-rules check rules

# Everything CI checks.
check: test lint buflint rules-check deploy-check

# The container and Kubernetes files, offline (no container engine, no cluster): hadolint on the Dockerfile; the
# rules volume up to date with rules/; the base and the example overlay rendered by kustomize, every object
# validated against the Kubernetes $(KUBE_VERSION) schemas (strict: unknown fields fail), and the rendered rules
# volume loaded by the server's own loader.
KUBE_VERSION ?= 1.30.0
RENDERED := build/kubernetes
deploy-check: $(STAMP) $(GEN)/.generated
	$(BIN)/hadolint Dockerfile
	$(BIN)/python deploy/kubernetes/rules_volume.py --check
	mkdir -p $(RENDERED)
	@set -e; for dir in base overlays/example; do \
		out=$(RENDERED)/$$(echo $$dir | tr / -).yaml; \
		$(BIN)/kubectl kustomize --load-restrictor LoadRestrictionsNone deploy/kubernetes/$$dir > $$out; \
		$(BIN)/kubernetes-validate -k $(KUBE_VERSION) --strict --quiet $$out; \
		PYTHONPATH=service $(BIN)/python deploy/kubernetes/check_rendered.py $$out; \
		echo "deploy/kubernetes/$$dir: rendered into $$out, $$(grep -c '^kind:' $$out) objects valid for $(KUBE_VERSION)"; \
	done

# Write the rules' ConfigMap generators and projected volume (deploy/kubernetes/base/rules-*.yaml) from rules/:
# after adding a release or a file to one.
deploy-rules: $(STAMP)
	$(BIN)/python deploy/kubernetes/rules_volume.py

# One server's RSS and CPU idle, under 30 s of bounded load and across a reload, as the Deployment runs it (the
# figures behind its requests and limits). LOAD_SECONDS=... to change.
measure: $(STAMP) $(GEN)/.generated
	PYTHONPATH=service:tests $(BIN)/python deploy/measure.py $(or $(LOAD_SECONDS),30) --cache-size 2000

# Benchmarks (under 10 minutes): print their figures, write bench/results/*.json, and end with the table of the
# throughput goals (issue 14) beside the figures of this run; never part of `make test`. BENCH_STARTED lets
# bench/goals.py leave out a results file an earlier run wrote.
bench: export BENCH_STARTED := $(shell date +%s)
bench: $(STAMP) $(GEN)/.generated
	$(BIN)/python bench/evaluate_latency.py
	$(BIN)/python bench/connect_latency.py
	$(BIN)/python bench/reload.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/log_cost.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/impact.py
	$(BIN)/python bench/goals.py

# The attacks at length (about 5 minutes): minutes of fuzzing (exponent numbers, oversized names, random bytes),
# then health and cheap-call latency under costly callers and silent streams, beside admission control lifted.
attack: $(STAMP) $(GEN)/.generated
	FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -q tests/test_fuzz.py
	$(BIN)/python bench/attack.py

# Soak test: 5 minutes of load on a TLS server with the decision log on (SECONDS=... to change).
soak: $(STAMP) $(GEN)/.generated
	$(BIN)/python bench/soak.py --seconds $(or $(SECONDS),300)

# Generate the Python protobuf and gRPC modules (and their type stubs) from protos/.
proto: $(GEN)/.generated

$(GEN)/.generated: $(PROTOS) $(STAMP)
	rm -rf $(GEN) && mkdir -p $(GEN)
	$(BIN)/python -m grpc_tools.protoc -I protos \
		--python_out=service --grpc_python_out=service \
		--mypy_out=service --mypy_grpc_out=service \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		$(PROTOS)
	echo '"""Generated from protos/rolwijzer/v1 by `make proto`; do not edit."""' > $(GEN)/__init__.py
	touch $@

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) $(GEN) .mypy_cache .ruff_cache .pytest_cache

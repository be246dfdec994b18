# Rolwijzer. `make run` serves the default rule set; `make test` runs the whole suite. Both install what is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GEN := service/rolwijzer/v1
PROTOS := $(wildcard protos/rolwijzer/v1/*.proto)

.PHONY: run test lint buflint rules-check proto bench attack soak check clean

# Start the server with the default rules on 127.0.0.1:50051 (or ADDRESS=host:port, or ROLWIJZER_ADDRESS);
# more flags with ARGS, e.g. `make run ARGS="--log-format console"`.
run: $(STAMP) $(GEN)/.generated
	$(BIN)/rolwijzer-server $(if $(ADDRESS),--address $(ADDRESS)) $(ARGS)

# Run the whole test suite.
test: $(STAMP) $(GEN)/.generated
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff and mypy --strict.
lint: $(STAMP) $(GEN)/.generated
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy

# buf lint on the protos (STANDARD).
buflint: $(STAMP)
	$(BIN)/buf lint

# Validate the rule folders offline (as the server would load them).
rules-check: $(STAMP) $(GEN)/.generated
	$(BIN)/rolwijzer-rules check rules

# Everything CI checks.
check: test lint buflint rules-check

# Benchmarks (about 6 minutes): print their figures, write bench/results/latest.json; never part of `make test`.
bench: $(STAMP) $(GEN)/.generated
	$(BIN)/python bench/evaluate_latency.py
	$(BIN)/python bench/reload.py
	$(BIN)/python bench/load.py

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

# The two commands README promises: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint typecheck unit bench env conformance

env: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

run: env
	$(UV) run --frozen tenantflow run examples/order-routing.json --input @examples/orders.json

test: lint typecheck unit

lint: env
	$(UV) run --frozen ruff check src tests bench
	$(UV) run --frozen ruff format --check src tests bench

typecheck: env
	$(UV) run --frozen mypy src

unit: env
	$(UV) run --frozen pytest

conformance: env
	$(UV) run --frozen tenantflow conformance ../shared/n8n-conformance

bench: env
	$(UV) run --frozen python bench/bench_executor.py
	$(UV) run --frozen python bench/bench_validation.py

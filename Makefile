# The two commands README promises: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_PYTHON_DOWNLOADS := never
# The interpreter: the distribution's CPython when it is new enough. Distributions build it with profile-
# guided and link-time optimisation; pyenv's default build, first on this machine's PATH, has neither and
# runs the service 18% more instructions per request (callgrind, README "Interpreter"). A UV_PYTHON the
# caller sets wins; without a system Python 3.11+, uv finds one as it would.
SYSTEM_PYTHON := $(shell /usr/bin/python3 -c 'import sys; print(sys.executable if sys.version_info >= (3, 11) else "")' 2>/dev/null)
ifneq ($(SYSTEM_PYTHON),)
export UV_PYTHON ?= $(SYSTEM_PYTHON)
endif
# Installed packages get their bytecode at install time: a command's start-up then does not compile
# typer, pydantic and SQLAlchemy again each time (this machine sets PYTHONDONTWRITEBYTECODE).
export UV_COMPILE_BYTECODE := 1
# The store's contract suite runs on SQLite and on this PostgreSQL server; the cache tests on this Redis.
# The tests fail (never skip) without them; .ci/run starts both when they are down.
TENANTFLOW_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
TENANTFLOW_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export TENANTFLOW_TEST_DATABASE_URL TENANTFLOW_TEST_REDIS_URL

.PHONY: run test lint typecheck unit bench env conformance migrate

env: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

run: env
	$(UV) run --frozen tenantflow serve

test: lint typecheck unit

lint: env
	$(UV) run --frozen ruff check src tests bench
	$(UV) run --frozen ruff format --check src tests bench

typecheck: env
	$(UV) run --frozen mypy src

unit: env
	$(UV) run --frozen pytest

migrate: env
	$(UV) run --frozen tenantflow migrate

conformance: env
	$(UV) run --frozen tenantflow conformance ../shared/n8n-conformance

bench: env
	$(UV) run --frozen python bench/bench_startup.py
	$(UV) run --frozen python bench/bench_executor.py
	$(UV) run --frozen python bench/bench_validation.py
	$(UV) run --frozen python bench/bench_store.py
	$(UV) run --frozen python bench/bench_executions.py
	$(UV) run --frozen python bench/bench_api.py
	$(UV) run --frozen python bench/bench_queue.py

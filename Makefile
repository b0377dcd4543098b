# sf2rl: `make demo` runs a quick sweep, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_AUTH_MODE := disabled

# System packages the suite runs for real: PostgreSQL (MLflow server stack), Chromium (watch page).
SYSDEPS := postgresql chromium chromium-driver

.PHONY: venv sysdeps demo test bench lint docs mutants clean

venv: $(STAMP)

# Re-installs only when the pins or the project metadata change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,retro,dev]'
	@touch $@

demo: venv
	$(BIN)/sf2rl sweep sweeps/quickstart.yaml

sysdeps:
	@.ci/sysdeps $(SYSDEPS)

test: venv sysdeps
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/sf2rl bench

docs: venv
	$(BIN)/python -m sf2rl.tools.docgen

# Style, formatting, types, and the layer contract (pyproject.toml [tool.importlinter]).
lint: venv
	$(BIN)/ruff check sf2rl emulator_worker tests bench
	$(BIN)/ruff format --check sf2rl emulator_worker tests bench
	$(BIN)/mypy sf2rl emulator_worker
	$(BIN)/lint-imports
	$(BIN)/python -m sf2rl.tools.import_cycles sf2rl emulator_worker

# Mutation testing of the core ([tool.mutmut] in pyproject.toml; docs/testing.md has the kill rates).
# Not part of CI: about 10 minutes on 2 cores. `mutmut results` lists survivors, `mutmut show NAME` one.
mutants: venv
	rm -rf mutants
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2
	$(BIN)/python -m sf2rl.tools.mutation_report

clean:
	rm -rf $(VENV) runs mlflow.db .pytest_cache mutants

# sf2rl: `make demo` runs a quick sweep, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_AUTH_MODE := disabled

.PHONY: venv demo test bench lint docs clean

venv: $(STAMP)

# Re-installs only when the pins or the project metadata change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,retro,dev]'
	@touch $@

demo: venv
	$(BIN)/sf2rl sweep sweeps/quickstart.yaml

test: venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/sf2rl bench

lint: venv
	$(BIN)/ruff check sf2rl emulator_worker tests bench
	$(BIN)/mypy sf2rl emulator_worker

clean:
	rm -rf $(VENV) runs mlflow.db .pytest_cache

# Two commands (see README): `make course` starts the course, `make test` runs every test.
# Both create the virtual environment .venv on first use and refresh it when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: course test install clean

# JupyterLab refuses to run as root unless told; containers often run as root.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

course: $(VENV)/.installed
	$(BIN)/jupyter lab $(AS_ROOT) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/course

test: $(VENV)/.installed
	CNNCOURSE_BUDGET=smoke $(BIN)/python -m pytest --nbval-lax tests source course

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.10 or newer is needed, this is " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -c 'import torchvision' || { echo "torch and torchvision do not match (a CPU-only torch with the registry's torchvision?): rm -rf $(VENV) and run make again"; exit 1; }
	touch $@

clean:
	rm -rf $(VENV)

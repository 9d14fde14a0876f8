# Two commands (see README): `make course` starts the course, `make test` runs every test.
# Both create the virtual environment .venv on first use and refresh it when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: course test site install clean

# JupyterLab refuses to run as root unless told; containers often run as root.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# `make course` serves this folder. Both can be set on the command line: COURSE_DIR is the folder
# served and the working directory (nbgrader's Validate reads nbgrader_config.py there), LAB_OPTIONS
# adds JupyterLab options. tests/test_browser.py runs this target on a copy of the course, with a
# free port and a token, its own BIN, and `-o .venv/.installed` so that nothing is reinstalled.
COURSE_DIR  ?= $(CURDIR)
LAB_OPTIONS ?=

course: $(VENV)/.installed
	cd "$(COURSE_DIR)" && "$(abspath $(BIN))/jupyter" lab $(AS_ROOT) --ServerApp.root_dir="$(COURSE_DIR)" --LabApp.default_url=/lab/tree/course $(LAB_OPTIONS)

test: $(VENV)/.installed
	CNNCOURSE_BUDGET=smoke $(BIN)/python -m pytest --nbval-lax tests source course

# The lectures (executed in the smoke budget) and the student notebooks as a static site in _site/.
site: $(VENV)/.installed
	$(BIN)/cnncourse site --out _site

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

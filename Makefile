# Two commands (see README): `make course` starts the course, `make test` runs every test.
# Both create the virtual environment .venv on first use and refresh it when pyproject.toml changes.
# Also: `make test-fast` (the quick tests, a few minutes), `make site` (the lectures as HTML),
# `make install TORCH=cpu` (PyTorch's CPU-only wheels, for laptops and CI), `make clean`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: course test test-fast site install clean

# JupyterLab refuses to run as root unless told; containers often run as root.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# `make course` serves this folder, with the environment's bin/ first on PATH (as after
# `source .venv/bin/activate`), so that `cnncourse` and `nbgrader` work in its terminals and notebooks.
# Both can be set on the command line: COURSE_DIR is the folder served and the working directory
# (nbgrader's Validate reads nbgrader_config.py there), LAB_OPTIONS adds JupyterLab options. tests/test_browser.py runs this target on a copy of the course, with a
# free port and a token, its own BIN, and `-o .venv/.installed` so that nothing is reinstalled.
COURSE_DIR  ?= $(CURDIR)
LAB_OPTIONS ?=

# BUDGET=smoke (`make course BUDGET=smoke`, `make site BUDGET=full`) sets CNNCOURSE_BUDGET: smoke runs
# the lectures on small offline stand-ins in minutes on a laptop CPU; full (the default) is the course.
BUDGET ?=
check_budget = $(if $(filter-out full smoke,$(BUDGET)),$(error BUDGET must be full or smoke, got '$(BUDGET)'))

# TORCH=cpu installs torch and torchvision from PyTorch's CPU wheel index first (much smaller than
# the CUDA build; not measured in this project's own environment, which reaches only PyPI); empty
# (the default) takes the registry's ordinary wheels. Changing it needs `make clean` first.
TORCH ?=
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

course: $(VENV)/.installed
	$(check_budget)
	cd "$(COURSE_DIR)" && PATH="$(abspath $(BIN)):$$PATH" $(if $(BUDGET),CNNCOURSE_BUDGET=$(BUDGET) )"$(abspath $(BIN))/jupyter" lab $(AS_ROOT) --ServerApp.root_dir="$(COURSE_DIR)" --LabApp.default_url=/lab/tree/course $(LAB_OPTIONS)

# Every test, the notebooks included, in TEST_JOBS processes (pytest-xdist; one file per process at a time, so a
# notebook's cells stay in order); 18.5-21.7 min measured on a quiet 2-core machine. The 15 slowest are listed at the end.
# TEST_JOBS=1 runs them in this process. Each process's PyTorch gets its share of the cores (tests/conftest.py).
TEST_JOBS ?= 2
test: $(VENV)/.installed
	CNNCOURSE_BUDGET=smoke $(BIN)/python -m pytest $(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile) --nbval-lax --durations=15 source tests course

# The quick part: no test marked slow (none trains a model or executes a notebook), no notebooks.
test-fast: $(VENV)/.installed
	CNNCOURSE_BUDGET=smoke $(BIN)/python -m pytest -m "not slow" --durations=10 tests

# The lectures (executed in the smoke budget unless BUDGET=full) and the student notebooks as a static site in _site/.
site: $(VENV)/.installed
	$(check_budget)
	$(BIN)/cnncourse site --out _site $(if $(BUDGET),--budget $(BUDGET))

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.10 or newer is needed, this is " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	@echo "==> 1/4 creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> 2/4 upgrading pip"
	$(BIN)/python -m pip install --quiet --upgrade pip
ifeq ($(TORCH),cpu)
	@echo "==> 3/4 torch and torchvision, CPU-only wheels from $(TORCH_CPU_INDEX)"
	$(BIN)/python -m pip install --index-url $(TORCH_CPU_INDEX) torch torchvision
else ifneq ($(TORCH),)
	$(error TORCH must be cpu or empty (the registry's ordinary wheels), got '$(TORCH)')
else
	@echo "==> 3/4 (torch comes with the registry's ordinary wheels in step 4; TORCH=cpu for the CPU-only build)"
endif
	@echo "==> 4/4 the course's packages with the test tools (about 5.5 GB with the CUDA build of torch: minutes to download)"
	$(BIN)/python -m pip install --progress-bar on -e ".[cluster,test]"
	$(BIN)/python -c 'import torchvision' || { echo "torch and torchvision do not match (a CPU-only torch with the registry's torchvision?): rm -rf $(VENV) and run make again"; exit 1; }
	@echo "==> done: $$(du -sh $(VENV) 2>/dev/null | cut -f1) in $(VENV)"
	touch $@

clean:
	rm -rf $(VENV)

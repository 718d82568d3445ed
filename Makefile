# tablechat — `make run` serves the app, `make test` runs every test, `make bench` measures.
# Both install what they need first, on a fresh machine too.
# `make test` runs each test module once, in two parts: `make test-embedded` runs the modules that carry
# the pipeline, the UI and the CLI on the embedded PostgreSQL and Redis (what a machine without local
# servers gets), even where local servers answer; `make test-rest` runs the others on whichever servers
# answer. `.venv/bin/pytest` alone runs everything on whichever servers answer.

PORT ?= 8000
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: run test test-embedded test-rest bench install browser balancer lint clean elements

run: install
	$(VENV)/bin/tablechat run --port $(PORT)

test: test-rest test-embedded

# Every way the product reaches PostgreSQL and Redis, on the embedded servers (Unix sockets, their own
# roles): the fill pipeline and `tablechat worker` (Dramatiq, outbox LISTEN, progress streams), the chat in
# a browser with its history and a restart, the fill followed from the chat, the live view's pushed event
# stream (its LISTEN connection), the login throttle's Redis, the Chainlit handlers, and the CLI.
EMBEDDED_TESTS ?= tests/core tests/worker tests/tools/test_tool_ai.py tests/dataio/test_dataio_cli.py \
	tests/ui/test_chat_app.py tests/ui/test_ai_progress_app.py tests/ui/test_chat_browser.py \
	tests/ui/test_ai_column_browser.py tests/ui/test_live_push_browser.py tests/ui/test_web_login_throttle.py

test-embedded: install browser
	TABLECHAT_EMBEDDED=1 $(VENV)/bin/pytest $(EMBEDDED_TESTS)

# Every other module, on the local servers where they answer. With test-embedded, each module runs once.
test-rest: install browser
	$(VENV)/bin/pytest $(addprefix --ignore=,$(EMBEDDED_TESTS))

bench: install balancer
	$(VENV)/bin/python -m bench

install: $(STAMP)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

# Debian's packages the tests drive: Chromium for the browser tests (Playwright cannot download its own
# here) and HAProxy, which balances `tablechat run --processes N`, the multi-process browser test and the
# chat200 bench (deploy/haproxy.cfg). One step, so that `make install browser` leaves a machine ready
# to run the whole suite without a network.
browser:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing=" chromium"; \
	{ command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy; } || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's$$missing for the tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; fi

balancer: browser

# Chainlit cannot import a file into a custom element: each element carries a pasted copy of the
# public/elements/shared/ files it names (core/elements.py; tests/core/test_elements.py checks them).
elements: install
	$(VENV)/bin/python -m core.elements

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .tools .pytest_cache

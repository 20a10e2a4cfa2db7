# Every target creates .venv on first use; re-running `make setup` is a no-op once it is complete.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed
INPUT   ?= demo/sample.warc.gz
OUT     ?= demo/out

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@if [ "$(INPUT)" = "demo/sample.warc.gz" ]; then $(PY) scripts/make_sample_warc.py --output demo/sample.warc.gz; fi
	.venv/bin/refinedweb run configs/refinedweb.yaml --input '$(INPUT)' --output $(OUT) --workers 2
	.venv/bin/refinedweb stats $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PIP) install -q -e '.[bench]'
	@set -e; for b in bench/*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf demo out .pytest_cache

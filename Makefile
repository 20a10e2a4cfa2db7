# Every target creates .venv on first use; re-running `make setup` is a no-op once it is complete.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed
INPUT   ?= demo/sample.warc.gz
OUT     ?= demo/out
RUN     ?= demo/run
STEPS   ?= 150
PROMPT  ?= The
BENCH_WARC ?= ../shared/data/pages/pages-A.warc.gz
BENCH_OUT  ?= bench-out/pages-A
CC_LIKE    ?= bench-out/cc-like.warc.gz

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
	.venv/bin/refinedweb tokenizer train --input $(OUT)/data --vocab-size 2048 --output $(OUT)/tokenizer
	.venv/bin/refinedweb tokenize --input $(OUT)/data --tokenizer $(OUT)/tokenizer --output $(OUT)/tokens --workers 2 --val-fraction 0.1
	.venv/bin/refinedweb train configs/train/tiny.yaml --data $(OUT)/tokens --out $(RUN) --max-steps $(STEPS) --resume
	.venv/bin/refinedweb generate $(RUN) --prompt '$(PROMPT)' --max-new-tokens 60

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PIP) install -q -e '.[bench]'
	.venv/bin/refinedweb run configs/refinedweb.yaml --input $(BENCH_WARC) --output $(BENCH_OUT)
	$(PY) bench/pipeline.py --input $(BENCH_WARC)
	$(PY) bench/make_cc_like.py --output $(CC_LIKE)
	$(PY) bench/pipeline.py --input $(CC_LIKE)
	$(PY) bench/scaling.py --input $(BENCH_WARC) --no-ray-single
	$(PY) bench/minhash.py --input $(BENCH_OUT)/data
	$(PY) bench/tokenization.py --input $(BENCH_OUT)/data
	$(PY) bench/train_step.py

clean:
	rm -rf demo out bench-out .pytest_cache

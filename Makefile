# Deep Learning, Derived: build the book, run the tests. Every target creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB     := $(BIN)/jupyter-book
JBFLAGS := -W -n --keep-going
# Debian packages the PDF needs (see README).
TEX_PKGS := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended tex-gyre latexmk lmodern
# Extra dependency groups: `make test EXTRAS=book,test,torch` also installs the PyTorch oracle.
EXTRAS ?= book,test
# Chapters executed at a time (book/_ext/execute.py); pytest workers.
JOBS ?= 2
EXECUTE := $(BIN)/python book/_ext/execute.py --jobs $(JOBS)

.PHONY: all venv execute html pdf test bench serve clean check-tex cache-check check-site help
all: test html

help:
	@echo "make html   build the site into _build/html (strict: warnings, failing cells and bad references fail)"
	@echo "make pdf    build the PDF into _build/latex/deep-learning-derived.pdf (needs: $(TEX_PKGS))"
	@echo "make test   run the package tests and the book checks (chapters executed once, shared with the build)"
	@echo "make bench  time the package's convolution, pooling, recurrent and attention layers against PyTorch CPU (needs EXTRAS=book,test,torch)"
	@echo "make check-site  open every built page in headless Chromium, all outside requests blocked"
	@echo "make serve  build the site if needed and serve it on http://localhost:8000"
	@echo "make clean  remove _build (the venv stays; rm -rf .venv removes it)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@# Build matplotlib's font cache now: on a new machine its first import may log a notice to
	@# stderr, and inside a chapter cell that would fail the strict build.
	@$(BIN)/python -c "import matplotlib.pyplot" 2>/dev/null || true
	@touch $@

venv: $(STAMP)

# Each chapter executes once per change, JOBS chapters at a time, into the cache the build reads
# (_build/.jupyter_cache): book/_ext/execute.py, a script (make test) and a Sphinx extension (the build
# executes the missing chapters in parallel while it reads the other pages). jupyter-cache hashes only
# the code cells, so cache-check clears the cache and Sphinx's saved environment when code/ changes, and
# removes a chapter's cached execution when its display formulas (or book/macros.tex) change.
cache-check: venv
	@$(EXECUTE) --check-only

execute: venv
	@$(EXECUTE)

html: venv cache-check
	BOOK_JOBS=$(JOBS) $(JB) build . $(JBFLAGS)
	@echo "The site is in _build/html: open _build/html/index.html, or run 'make serve'."

check-tex:
	@missing=""; for p in $(TEX_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	 if [ -n "$$missing" ]; then echo "make pdf needs these Debian packages:$$missing"; \
	   echo "install them with: sudo apt-get install -y$$missing"; exit 1; fi

pdf: venv check-tex cache-check
	BOOK_JOBS=$(JOBS) $(JB) build . --builder pdflatex $(JBFLAGS)
	@if pdftotext -v >/dev/null 2>&1 && pdftotext _build/latex/deep-learning-derived.pdf - | grep -n '??'; then \
	   echo "the PDF has undefined references (??)"; exit 1; fi
	@echo "The PDF is _build/latex/deep-learning-derived.pdf"

# The chapters execute first (those not in the cache); the tests then read their outputs from the cache.
# A chapter that fails there fails its test too, and the other tests still run.
test: venv
	@$(EXECUTE); status=$$?; \
	 BOOK_EXECUTED=1 $(BIN)/python -m pytest -n $(JOBS) || status=1; exit $$status

# make bench BENCHFLAGS="--threads 2 --repeats 11" (options of tests/bench_conv.py; default 1 thread, full size)
bench: venv
	$(BIN)/python tests/bench_conv.py $(BENCHFLAGS)
	$(BIN)/python tests/bench_sequence.py $(BENCHFLAGS)

check-site: venv
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install -q -e ".[check]"
	$(BIN)/python .ci/check_site.py _build/html

serve: html
	@echo "Serving _build/html at http://localhost:8000 (Ctrl-C stops it)"
	$(BIN)/python -m http.server --directory _build/html 8000

clean:
	rm -rf _build

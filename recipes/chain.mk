# The common tail of a recipe: train -> translate -> evaluate, on $(WORK)/data written by the recipe's
# own `prepare` target ($(WORK)/data/manifest.json). Included by recipes/*/Makefile after NMT, WORK,
# TRAIN_CONFIG (a YAML file of train options, or empty), TRAIN_ARGS, TRANSLATE_ARGS and EVALUATE_ARGS
# are set.
#
# Every step's target is a file written only when the step succeeded (written to $@.tmp, then moved),
# so a failed or killed step is redone by the next `make`, and a rerun with nothing changed does
# nothing. Training's target is the run summary (run.json, from `nmt train --json`), not best.pt: a
# killed training leaves checkpoints but no run.json, so the next `make` continues the training
# (exact resume) instead of translating with a half-trained model.

.DELETE_ON_ERROR:
EVALUATE_ARGS ?=
TRAIN_CONFIG ?=

# $(WORK)/.args/NAME holds the value of the variable NAME, rewritten only when it changes: a step
# depending on it is redone when its options change, and only then. (Changing TRAIN_ARGS beyond the
# stopping limits and speed knobs makes `nmt train` refuse the existing run: `make clean-run` first.)
$(WORK)/.args/%: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$($*)' | cmp -s - $@ || printf '%s\n' '$($*)' > $@
FORCE:

# Train (resumable: rerunning continues from the last checkpoint).
$(WORK)/run.json: $(WORK)/data/manifest.json $(WORK)/.args/TRAIN_ARGS $(TRAIN_CONFIG)
	$(NMT) train $(WORK)/data --out $(WORK)/run $(if $(TRAIN_CONFIG),--config $(TRAIN_CONFIG)) \
	  $(TRAIN_ARGS) --json > $@.tmp
	mv $@.tmp $@
train: $(WORK)/run.json

# Translate the held-out test split, one line out per line in (-o writes the file whole or not at all).
$(WORK)/test.hyp: $(WORK)/run.json $(WORK)/.args/TRANSLATE_ARGS
	$(NMT) translate -m $(WORK)/run $(TRANSLATE_ARGS) $(WORK)/data/test.src -o $@
translate: $(WORK)/test.hyp

# Score against the references (sacreBLEU BLEU, chrF, TER with signatures), for people and as JSON.
$(WORK)/test.scores: $(WORK)/test.hyp $(WORK)/.args/EVALUATE_ARGS
	$(NMT) evaluate -r $(WORK)/data/test.tgt $(WORK)/test.hyp $(EVALUATE_ARGS) > $@.tmp
	mv $@.tmp $@
$(WORK)/test.scores.json: $(WORK)/test.hyp $(WORK)/.args/EVALUATE_ARGS
	$(NMT) evaluate -r $(WORK)/data/test.tgt $(WORK)/test.hyp $(EVALUATE_ARGS) --json > $@.tmp
	mv $@.tmp $@
evaluate: $(WORK)/test.scores $(WORK)/test.scores.json
	@cat $(WORK)/test.scores

clean-run:
	rm -rf $(WORK)/run $(WORK)/run.json $(WORK)/test.hyp $(WORK)/test.scores $(WORK)/test.scores.json

clean:
	rm -rf $(WORK)

.PHONY: train translate evaluate clean clean-run FORCE

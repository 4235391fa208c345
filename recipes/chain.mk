# The common tail of a recipe: train -> translate -> evaluate, on $(WORK)/data written by the
# recipe's own `prepare` target. Included by recipes/*/Makefile; expects NMT, WORK, TRAIN_ARGS and
# TRANSLATE_ARGS.

# Train (resumable: rerunning continues from the last checkpoint).
$(WORK)/run/.done: $(WORK)/data/manifest.json
	$(NMT) train $(WORK)/data --out $(WORK)/run $(TRAIN_ARGS)
	touch $@
train: $(WORK)/run/.done

# Translate the held-out test split, one line out per line in.
$(WORK)/test.hyp: $(WORK)/run/.done
	$(NMT) translate -m $(WORK)/run $(TRANSLATE_ARGS) $(WORK)/data/test.src -o $@
translate: $(WORK)/test.hyp

# Score against the references (sacreBLEU BLEU, chrF, TER with signatures).
evaluate: $(WORK)/test.hyp
	$(NMT) evaluate -r $(WORK)/data/test.tgt $(WORK)/test.hyp > $(WORK)/test.scores
	cat $(WORK)/test.scores

clean:
	rm -rf $(WORK)

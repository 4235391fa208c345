"""Deterministic synthetic English -> Spanish parallel corpus for ``make demo``.

The corpus comes from a small *synchronous* grammar: every rule emits the source and the target side
together, so each derivation has exactly one translation, and the lexicon avoids homographs and
ambiguous attachments whose translations would differ, so the target is a function of the source
sentence. Everything is lower case; tokens are separated by single spaces; sentences end with a
separate ``.`` (questions: ``?`` and ``¿ ... ?`` on the target side)::

    S        -> CLAUSE [CONJ CLAUSE] .  |  QUESTION ?
    CLAUSE   -> SUBJ [FREQ] VERB [NP] [PP] [ADV]      the cats often eat -> los gatos a menudo comen
              | SUBJ do/does not VERB [NP] [PP] [ADV]  -> SUBJ no VERB ...
              | SUBJ MODAL VERB [NP] [PP] [ADV]        must -> tiene que, cannot -> no puede
              | SUBJ is/are [not] [very] ADJ [PP]      ser or estar (by adjective), agreeing with SUBJ
              | there is/are NP [PP] [ADV]             -> hay NP ...
              | SUBJ says/thinks/knows/believes that CLAUSE  -> dice/piensa/sabe/cree que CLAUSE
    QUESTION -> do/does SUBJ VERB [NP] [PP] [ADV]      -> ¿ VERB SUBJ [NP] [PP] [ADV] ?
    NP       -> DET [very] ADJ [and ADJ] NOUN         -> DET NOUN [muy] ADJ [y/e ADJ]
    PP       -> PREP NP                               a/de + el -> al/del

What makes attention useful: adjectives follow the noun; articles, determiners and adjectives agree
with the noun's gender and number; verbs agree with the subject's person and number; person objects
take the 'personal a' (ve al hombre, llama a la reina); a few words
become two (often -> a menudo, must -> tiene que, next to -> al lado de), a few expressions become one
(look for -> buscar, at once -> enseguida, there is -> hay); questions move the verb before the subject.

Splits: a seeded sample of (adjective, noun) combinations is held out. Train never contains them
(neither attributive nor predicative); every dev and test sentence contains one of them as the adjacent
bigram ``ADJ NOUN`` (e.g. ``red cars``), so dev and test measure unseen combinations alike. Pairs are
unique across all splits, and dev/test keep only sentences whose words (both sides) all occur in train.

Modules: ``words`` (the word classes and their inflection), ``lexicon`` (nouns, adjectives, verbs),
``function_words`` (pronouns, determiners, prepositions...), ``phrases`` (phrase structures and their
realization, no randomness), ``grammar`` (the random choices, the splits and ``write_demo_corpus``).
"""

"""The human-study kit: a static pairwise-preference page set (``bench study make``) and the
analysis of the participants' answer files (``bench study analyze``)."""

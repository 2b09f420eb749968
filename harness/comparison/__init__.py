"""`primbench compare`: the paper's comparison of training recipes, for runs trained anywhere."""

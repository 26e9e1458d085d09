"""Pure loss pieces: likelihoods, KL terms, GECO."""

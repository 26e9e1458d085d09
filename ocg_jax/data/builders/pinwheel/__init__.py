"""The ``pinwheel`` dataset (Disentangling Disentanglement's clustering demonstration)."""

"""The ``dsprites`` dataset (Disentangling Disentanglement)."""

"""The ``cub`` dataset: CUB-200-2011 birds with masks, from the user's files."""

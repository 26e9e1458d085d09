"""The ``flowers`` dataset: Oxford Flowers 102 with masks, from the user's files."""

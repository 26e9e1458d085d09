"""The ``lfw`` dataset: LFW faces with face-and-hair masks, from the user's files."""

"""The ``fg_bg`` dataset (ReDO's procedural foreground / background scenes)."""

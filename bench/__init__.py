"""`make bench`: the speed targets of SPEC §10, measured against baselines taken in the same run."""

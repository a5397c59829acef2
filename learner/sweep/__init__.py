"""`seqgan sweep`: a grid of training runs as Ray Tune trials (grid.py: the points, checked before any
trial; state.py: OUT/sweep.json; trial.py: one point, the `seqgan train` path; tuning.py: the Ray
edge, placement groups and the Tuner; table.py: OUT/report.md)."""

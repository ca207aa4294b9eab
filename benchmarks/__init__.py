"""``make bench``: how fast vary is, as ratios against baselines measured in the same run.

Run it with ``.venv/bin/python -m benchmarks`` from the repository root; ``--help`` lists the
options. See README.md beside this file for what is measured and how.
"""

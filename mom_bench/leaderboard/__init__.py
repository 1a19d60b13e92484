"""The leaderboard: submission schemas, validation and scoring into entries, rendering.

* ``schema``: versioned JSON Schemas of predictions, metadata and entries, and their validator.
* ``submit``: predictions + metadata -> ``leaderboard/entries/<benchmark>/<slug>.json`` (reproduced rows).
* ``reported``: numbers copied from papers, imported from the ``baselines/`` recipes (reported rows).
* ``render``: LEADERBOARD.md, leaderboard.csv, index.html and the per-generator chart.
* ``validate``: checks a whole leaderboard folder (for CI).
"""

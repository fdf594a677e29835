"""The assessment figures (考核): what intake holds counted for a range of days, rolled up
the org tree and scored.

- ``api``, ``schemas``: the endpoint (JSON, CSV, XLSX) and its schemas;
- ``figures``: the indicators of every group, exact, and the score.
"""

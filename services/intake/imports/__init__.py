"""Social-training records collected in bulk (社会培训成果信息采集): a file in, its rows read
in chunks on the ``intake.imports`` queue, its records reviewed as one batch, then posted.

- ``api``, ``schemas``: the HTTP endpoints and their schemas;
- ``lifecycle``: an import received (its file checked whole and stored encrypted), prepared
  into chunks, resumed when stalled, and what a caller may see of it;
- ``files``: reading a CSV or XLSX file whole (format, encoding, columns) and the template;
- ``rows``: one row checked like a single deposit;
- ``accounts``: learners matched by document, or opened collectively;
- ``chunks``: one chunk's rows taken in one transaction;
- ``batches``: the batch in review, its rows rejected, its end (posted, refused, withdrawn).
"""

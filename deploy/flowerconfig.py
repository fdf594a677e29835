"""Flower's configuration under docker-compose (``--conf=deploy/flowerconfig.py``): basic
auth from the file the ``secrets`` job made, so the password is in no command line."""

import os
from pathlib import Path

basic_auth = [Path(os.environ["CB_FLOWER_AUTH_FILE"]).read_text().strip()]

"""The notify web app's database (one session per request)."""

from shared.db import Database

db = Database()

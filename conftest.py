"""Root pytest configuration: notebooks run in their fast mode under pytest (small budgets)."""

import os

os.environ.setdefault("WPGJAX_NOTEBOOK_FAST", "1")

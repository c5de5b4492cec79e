"""`python -m distilabel_selfinstruct.argilla.local_server` (what scripts/argilla-local runs)."""

from __future__ import annotations

import os
import sys

from .cli import MODULE_PROGRAM_NAME, PROGRAM_NAME_VARIABLE, main

if __name__ == "__main__":
    sys.exit(main(program_name=os.environ.get(PROGRAM_NAME_VARIABLE) or MODULE_PROGRAM_NAME))

"""python -m cmpkit: same as the cmpkit command."""
import sys

from .cli import main

sys.exit(main())

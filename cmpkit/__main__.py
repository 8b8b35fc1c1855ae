"""python -m cmpkit: same as the cmpkit command."""
from .cli import console

console()

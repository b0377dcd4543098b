"""`python -m sf2rl` is `sf2rl`."""

from sf2rl.cli import main

main()

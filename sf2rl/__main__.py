"""`python -m sf2rl` is `sf2rl`."""

from sf2rl.cli.main import main

main()

"""The `sf2rl` command line: one module per command, and the terminal console they share."""

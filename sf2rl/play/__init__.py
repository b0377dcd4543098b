"""Play: matches between policies and the CPU or each other.

The arena runs matches in worker processes; evaluation, the level x opponent
matrix, tournaments, recorded replays with a HUD and the live watch mosaic sit on it.
"""

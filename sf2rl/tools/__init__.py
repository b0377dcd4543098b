"""Tools for the project itself: the throughput benchmark and the generated references."""

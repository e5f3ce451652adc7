"""Tools on top of the runtime: the command line, the demo, benchmarks."""

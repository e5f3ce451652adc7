"""Compiled execution of small and divergent groups: a per-PE interpreter in Numba (`interpreter`) over
the program decoded into arrays (`table`), entered from the scheduler through `stepper.CompiledMixin`."""

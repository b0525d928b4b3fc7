"""Use cases: one module each; every one takes its ports as keyword arguments."""

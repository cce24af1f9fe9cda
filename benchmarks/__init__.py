"""Benchmarks of the Pardot connector against the emulator: ``python -m benchmarks.run``."""

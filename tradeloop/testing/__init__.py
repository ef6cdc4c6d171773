"""Support for tests that run tradeloop in real subprocesses (crash points, runners)."""

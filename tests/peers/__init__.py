"""Fake network peers for tests: real servers on loopback that speak the real protocols."""

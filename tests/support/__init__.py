"""Shared helpers for the test suites (not tests themselves)."""

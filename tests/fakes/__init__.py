"""Fakes of outside services (only Claude is faked) for the tests."""

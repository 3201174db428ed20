"""Tests for the Whop emulator (`mentora.emulator`)."""

"""Twilio-compatible sandbox (dev and test only): speaks the Messages API on a local port."""

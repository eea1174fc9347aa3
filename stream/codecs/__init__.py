"""Decoding of input messages into events and encoding of alert records."""

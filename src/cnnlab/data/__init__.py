"""Datasets: locate, validate and load into memory as uint8 arrays."""

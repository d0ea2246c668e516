"""Benchmarks that print figures: `make bench` (throughput and memory), `make bench-medusa` (sync cost)."""

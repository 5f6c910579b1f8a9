"""`make bench`: cold start, AWS calls, warm overhead, layer size and scale (docs/PERFORMANCE.md)."""

"""asv benchmarks of icefb (run with `make bench`)."""

#!/bin/sh
# A Python that never finishes: the benchmark runner of a hung device (tests/support/lab_device_shell.sh).
exec sleep 3600

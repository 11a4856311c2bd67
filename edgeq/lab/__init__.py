"""The device lab: a matrix of models × devices run as jobs under leases, with device health and
quarantine, a results store, reports and a statistical regression gate.

Device instances themselves (inventory, probe, doctor) live in ``edgeq.device``.
"""

"""Devices: payment terminal, printers, cash drawer, e-mail: each an interface with a real driver and a fake."""

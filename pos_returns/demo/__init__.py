"""The synthetic demo chain (stores, catalogue, five years of sales, returns) and
the HQ sales feed. No production module imports it: only the CLI's demo and hq
commands and the screenshots tool."""

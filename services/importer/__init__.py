"""Importer: turns CSV files (and, later, directory and pipeline selections) into campaign leads."""

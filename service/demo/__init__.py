"""Demo data: the five field stories of the product brief, with their real numbers, loaded
through the same service functions (and the same bulk importer) as real data."""

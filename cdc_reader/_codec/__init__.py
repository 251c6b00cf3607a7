"""The value codec's internals; the public API is :mod:`cdc_reader.codec`."""

"""The value codec's internals; the public API is :mod:`pgcdc.cdc_reader.codec`."""

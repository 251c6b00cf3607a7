"""The source side: slot lifecycle, snapshot bootstrap, wal2json decoding, batching, writing."""

"""Demo and local-cluster tooling: never shipped in the Lambda package."""

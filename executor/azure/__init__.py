"""The only room that imports azure.*: connection, the Compute backend, discovery, the fleet view,
pacing and retries, error translation and ARM ids."""

"""What a run is, resolved and pure: the run spec, and the shard of it one
process (a worker, a pod) runs.  No IO, no clock: the same spec gives the
same fleet and the same shards wherever it is computed."""

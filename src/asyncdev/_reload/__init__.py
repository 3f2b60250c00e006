"""L4, the reload wing: the supervisor and the processes it starts."""

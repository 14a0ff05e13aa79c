"""Live tail: one upstream subscription per source per web process, fanned out to every socket watching it."""

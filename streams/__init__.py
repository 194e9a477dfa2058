"""Everything that moves events: the shared handler, the embedded runner, the emitter, the Faust worker."""

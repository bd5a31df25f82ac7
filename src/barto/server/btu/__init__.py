"""BTU Scheduler's SQL source of schedules (docs/btu.md); its socket is a door (barto.server.btusocket)."""

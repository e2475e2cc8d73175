from sim.exits import launch

launch("sim-run")

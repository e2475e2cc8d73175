from sim.exits import launch

launch("sim-validate")
